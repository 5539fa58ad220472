package upgrade

import "context"

// WithInDoubt returns a copy of ctx with which InDoubt reports true: the
// one way for a runner other than Run (one that hands a step to another
// process once its first one was lost, say) to tell the host's code that
// the step it executes, or rolls back, may have been carried out already.
func WithInDoubt(ctx context.Context) context.Context {
	return context.WithValue(ctx, inDoubtKey{}, true)
}
