// Package hbonenames holds the names of the ambient data plane that the
// hbone plugin builds and the tools that read its output (aeraki trace,
// the debug endpoints) must agree on: proxy ids (ztunnel/<node>,
// waypoint/<namespace>/<name>), Istio's fixed ports, and listener, chain,
// cluster, metadata and SDS names. It sits outside the plugin so a tool
// can name a proxy or a listener without importing the plugin itself.
package hbonenames
