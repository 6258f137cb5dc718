package server

import (
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/server/config"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	"github.com/go-logr/logr"
)

// cacheLogger sends go-control-plane's printf-style logs into aeraki's
// structured log. go-control-plane logs every watch at Info; those are
// aeraki's debug level (V(2)), so a normal log shows aeraki's own events.
type cacheLogger struct{ log logr.Logger }

// Debugf implements go-control-plane's log.Logger.
func (l cacheLogger) Debugf(format string, args ...any) {
	l.log.V(3).Info(fmt.Sprintf(format, args...))
}

// Infof implements go-control-plane's log.Logger.
func (l cacheLogger) Infof(format string, args ...any) {
	l.log.V(2).Info(fmt.Sprintf(format, args...))
}

// Warnf implements go-control-plane's log.Logger.
func (l cacheLogger) Warnf(format string, args ...any) {
	l.log.Info(fmt.Sprintf(format, args...), "level", "warning")
}

// Errorf implements go-control-plane's log.Logger.
func (l cacheLogger) Errorf(format string, args ...any) {
	l.log.Error(nil, fmt.Sprintf(format, args...))
}

// serverv3Logger routes the go-control-plane server's logs (both the
// state-of-the-world and the delta server read this option).
func serverv3Logger(log logr.Logger) config.XDSOption {
	return sotw.WithLogger(cacheLogger{log.WithName("xds-server")})
}
