package hbone

import "github.com/aeraki-ng/aeraki/pkg/hbonenames"

// The plugin's names are those of package hbonenames, which aeraki trace
// reads too; they are repeated here so the plugin's code reads them
// unqualified. Define new names in hbonenames.
const (
	PortHBONE                       = hbonenames.PortHBONE
	PortOutbound                    = hbonenames.PortOutbound
	PortInboundPlaintext            = hbonenames.PortInboundPlaintext
	ListenerZtunnelOutbound         = hbonenames.ListenerZtunnelOutbound
	ListenerZtunnelOutboundPods     = hbonenames.ListenerZtunnelOutboundPods
	ListenerZtunnelOutboundServices = hbonenames.ListenerZtunnelOutboundServices
	ListenerZtunnelInbound          = hbonenames.ListenerZtunnelInbound
	ListenerZtunnelInboundPlaintext = hbonenames.ListenerZtunnelInboundPlaintext
	ListenerConnectOriginate        = hbonenames.ListenerConnectOriginate
	ListenerPlaintextOriginate      = hbonenames.ListenerPlaintextOriginate
	ListenerConnectTerminate        = hbonenames.ListenerConnectTerminate
	ListenerMainInternal            = hbonenames.ListenerMainInternal
	ClusterPassthrough              = hbonenames.ClusterPassthrough
	ClusterBlackHole                = hbonenames.ClusterBlackHole
	ClusterEncap                    = hbonenames.ClusterEncap
	ClusterMainInternal             = hbonenames.ClusterMainInternal
	ClusterZtunnelOutboundPods      = hbonenames.ClusterZtunnelOutboundPods
	ClusterZtunnelOutboundServices  = hbonenames.ClusterZtunnelOutboundServices
	ClusterConnectOriginate         = hbonenames.ClusterConnectOriginate
	ClusterInboundDeliver           = hbonenames.ClusterInboundDeliver
	ChainPassthrough                = hbonenames.ChainPassthrough
	ChainLoopGuard                  = hbonenames.ChainLoopGuard
	ChainDirect                     = hbonenames.ChainDirect
	ChainToPods                     = hbonenames.ChainToPods
	ChainToServices                 = hbonenames.ChainToServices
	ChainInboundPlaintext           = hbonenames.ChainInboundPlaintext
	ChainDirectTCP                  = hbonenames.ChainDirectTCP
	ChainBlackHole                  = hbonenames.ChainBlackHole
	MetadataOriginalDst             = hbonenames.MetadataOriginalDst
	MetadataFieldLocal              = hbonenames.MetadataFieldLocal
	MetadataFieldWaypoint           = hbonenames.MetadataFieldWaypoint
	FilterStateLocalIP              = hbonenames.FilterStateLocalIP
	FilterStateRemoteIP             = hbonenames.FilterStateRemoteIP
	FilterStateOriginalDstAddress   = hbonenames.FilterStateOriginalDstAddress
	SecretRootCA                    = hbonenames.SecretRootCA
	SDSCluster                      = hbonenames.SDSCluster
)
