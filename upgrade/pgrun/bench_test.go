package pgrun

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stackup/stackup/upgrade"
)

// BenchmarkWorkers runs no-op steps through PostgreSQL with 1, 4 and 16
// workers (in this process, each its own Work call), and, for comparison,
// through upgrade.Run with a file journal.
func BenchmarkWorkers(b *testing.B) {
	const n = 400
	noop := upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error { return nil })
	for _, workers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("pgrun/workers=%d", workers), func(b *testing.B) {
			s, _ := testStoreB(b)
			seq := 0
			for b.Loop() {
				seq++
				plan := dagPlan(fmt.Sprintf("bench-%d", seq), n, 1)
				if err := s.Submit(context.Background(), plan, Options{Concurrency: workers}); err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for k := range workers {
					wg.Go(func() {
						o := WorkerOptions{Name: fmt.Sprintf("w%d", k), Lease: 30 * time.Second} // woken by notifications
						if err := s.Work(context.Background(), plan.ID, noop, o); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "steps/s")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n*b.N), "µs/step")
		})
	}
	b.Run("upgrade.Run/file-journal", func(b *testing.B) {
		dir := b.TempDir()
		seq := 0
		for b.Loop() {
			seq++
			j, err := upgrade.OpenFileJournal(filepath.Join(dir, fmt.Sprintf("j%d", seq)))
			if err != nil {
				b.Fatal(err)
			}
			plan := dagPlan(fmt.Sprintf("bench-%d", seq), n, 1)
			if _, err := upgrade.Run(context.Background(), plan, noop, upgrade.WithConcurrency(4), upgrade.WithJournal(j)); err != nil {
				b.Fatal(err)
			}
			j.Close()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "steps/s")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n*b.N), "µs/step")
	})
}
