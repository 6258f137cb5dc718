package deps
import (
 _ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
 _ "github.com/envoyproxy/go-control-plane/pkg/server/v3"
 _ "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
 _ "sigs.k8s.io/controller-runtime/pkg/client"
 _ "sigs.k8s.io/controller-runtime/pkg/envtest"
 _ "istio.io/client-go/pkg/apis/networking/v1"
 _ "istio.io/api/mcp/v1alpha1"
 _ "sigs.k8s.io/gateway-api/apis/v1"
 _ "google.golang.org/grpc"
 _ "google.golang.org/grpc/xds"
 _ "github.com/fsnotify/fsnotify"
 _ "sigs.k8s.io/yaml"
 _ "github.com/spf13/cobra"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/go-logr/logr"
)
