package topology_test

import (
	"testing"

	"github.com/stackup/stackup/topology"
)

// BenchmarkCheckID checks identifiers of typical lengths: the planner
// checks those of every co-tenant of every platform node it decides.
func BenchmarkCheckID(b *testing.B) {
	for _, id := range []string{"shop-1", "tomcat_server", "app0042-instance-0099", "org.example:service/v2@x+y-1234567890"} {
		b.Run(id, func(b *testing.B) {
			b.SetBytes(int64(len(id)))
			for b.Loop() {
				if topology.CheckID("node", id) != nil {
					b.Fatal(id)
				}
			}
		})
	}
}
