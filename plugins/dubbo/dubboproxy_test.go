package dubbo

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// TestDubboProxyTables pins dubbo_proxy's tables for each kind of
// interface condition, with method and attachment matches beside it and
// a weighted route, independent of which cases the goldens render.
func TestDubboProxyTables(t *testing.T) {
	b := model.NewBuilder(model.Options{})
	view := b.Build().View()
	svc := &model.Service{Hostname: "demo.ns.svc.cluster.local", Namespace: "ns"}
	port := &model.Port{Number: 20880}
	ctx := plugin.NewBuildContext(Name, view, plugin.RoleSidecarOutbound, svc, port)
	ref := model.ObjectRef{Kind: "MetaRouter", Namespace: "ns", Name: "r"}
	one := []metaroute.Destination{{Cluster: "c1"}}
	routes := []metaroute.Route{
		{Name: "prefix", Object: ref, Field: "spec.routes[0]", Destinations: one, Match: []metaroute.AttributeMatch{
			{Name: "a", Kind: metaroute.MatchPresent},
			{Name: AttrInterface, Kind: metaroute.MatchPrefix, Value: "org.demo"},
			{Name: AttrMethod, Kind: metaroute.MatchExact, Value: "sayHello"},
			{Name: "z", Kind: metaroute.MatchRegex, Value: "v[0-9]"},
		}},
		{Name: "exact", Object: ref, Field: "spec.routes[1]", Destinations: []metaroute.Destination{{Cluster: "c1", Weight: 90}, {Cluster: "c2", Weight: 10}}, Match: []metaroute.AttributeMatch{
			{Name: AttrInterface, Kind: metaroute.MatchExact, Value: "org.demo.Svc"},
		}},
		{Name: "present", Object: ref, Field: "spec.routes[2]", Destinations: one, Match: []metaroute.AttributeMatch{
			{Name: AttrInterface, Kind: metaroute.MatchPresent},
			{Name: AttrMethod, Kind: metaroute.MatchPrefix, Value: "get"},
		}},
		{Name: "regex", Object: ref, Field: "spec.routes[3]", Destinations: one, Match: []metaroute.AttributeMatch{
			{Name: AttrInterface, Kind: metaroute.MatchRegex, Value: "org.*"},
		}},
		{Name: "headers", Object: ref, Field: "spec.routes[4]", Destinations: one, Match: []metaroute.AttributeMatch{
			{Name: "b", Kind: metaroute.MatchExact, Value: "x"},
		}},
		{Name: "default", Destinations: one},
	}
	out := dubboProxyRoutes(ctx, "rt", routes)
	js, err := protojson.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer // protojson's own spacing is not stable
	if err := json.Indent(&buf, js, "", " "); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	var reports []string
	for _, d := range ctx.Reports() {
		reports = append(reports, d.Field+" "+d.Message)
	}
	got += "\n" + strings.Join(reports, "\n")
	if want := strings.TrimSpace(wantTables); strings.TrimSpace(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

const wantTables = `
{
 "name": "rt",
 "routeConfig": [
  {
   "name": "rt|prefix",
   "interface": "org.demo",
   "routes": [
    {
     "match": {
      "method": {
       "name": {
        "exact": "sayHello"
       }
      },
      "headers": [
       {
        "name": "a",
        "presentMatch": true
       },
       {
        "name": "z",
        "stringMatch": {
         "safeRegex": {
          "regex": "v[0-9]"
         }
        }
       }
      ]
     },
     "route": {
      "cluster": "c1"
     }
    }
   ]
  },
  {
   "name": "rt|prefix|org.demo*",
   "interface": "org.demo*",
   "routes": [
    {
     "match": {
      "method": {
       "name": {
        "exact": "sayHello"
       }
      },
      "headers": [
       {
        "name": "a",
        "presentMatch": true
       },
       {
        "name": "z",
        "stringMatch": {
         "safeRegex": {
          "regex": "v[0-9]"
         }
        }
       }
      ]
     },
     "route": {
      "cluster": "c1"
     }
    }
   ]
  },
  {
   "name": "rt|exact",
   "interface": "org.demo.Svc",
   "routes": [
    {
     "match": {
      "method": {
       "name": {
        "safeRegex": {
         "regex": ".*"
        }
       }
      }
     },
     "route": {
      "weightedClusters": {
       "clusters": [
        {
         "name": "c1",
         "weight": 90
        },
        {
         "name": "c2",
         "weight": 10
        }
       ]
      }
     }
    }
   ]
  },
  {
   "name": "rt|present",
   "interface": "*",
   "routes": [
    {
     "match": {
      "method": {
       "name": {
        "prefix": "get"
       }
      }
     },
     "route": {
      "cluster": "c1"
     }
    }
   ]
  },
  {
   "name": "rt|headers",
   "interface": "*",
   "routes": [
    {
     "match": {
      "method": {
       "name": {
        "safeRegex": {
         "regex": ".*"
        }
       }
      },
      "headers": [
       {
        "name": "b",
        "stringMatch": {
         "exact": "x"
        }
       }
      ]
     },
     "route": {
      "cluster": "c1"
     }
    }
   ]
  },
  {
   "name": "rt|default",
   "interface": "*",
   "routes": [
    {
     "match": {
      "method": {
       "name": {
        "safeRegex": {
         "regex": ".*"
        }
       }
      }
     },
     "route": {
      "cluster": "c1"
     }
    }
   ]
  }
 ]
}
spec.routes[3] dubbo_proxy matches interfaces exactly, by prefix or by suffix only; route "regex" with an interface regex match is skipped (generic_proxy, on a build that has it, carries regex matches)
`
