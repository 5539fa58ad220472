package upgrade

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the plan for people to read, in the manner of
// `terraform plan`: the requests, then each step in order with what
// changes, from which version to which, after which steps and why, then the
// requirements already met and the warnings. The layout may change between
// releases; do not parse it (use the plan's fields).
func (p *Plan) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	platform := 0
	for _, s := range p.Steps {
		if s.Kind == Platform {
			platform++
		}
	}
	fmt.Fprintf(bw, "Upgrade plan: %d steps (%d platform, %d application), %d requirements already met\n",
		len(p.Steps), platform, len(p.Steps)-platform, len(p.Satisfied))
	fmt.Fprintln(bw, "\nRequests:")
	for _, r := range p.Requests {
		fmt.Fprintf(bw, "  %s\n", r)
	}
	if len(p.Steps) > 0 {
		fmt.Fprintln(bw, "\nSteps:")
	}
	for i, s := range p.Steps {
		fmt.Fprintf(bw, "  %d. %s\n", i+1, s.ID)
		switch s.Kind {
		case Platform:
			verb := "upgrade"
			if s.To.Less(s.From) {
				verb = "downgrade"
			}
			fmt.Fprintf(bw, "       %s %s (%s, %s) %s → %s", verb, s.Node, s.Template, s.Type, s.From, s.To)
			if s.Package != nil {
				fmt.Fprintf(bw, " with package %s", s.Package)
			}
			fmt.Fprintln(bw)
		default:
			to := ""
			if s.NewTemplate != nil {
				to = string(s.NewTemplate.ID) + " "
			}
			fmt.Fprintf(bw, "       replace %s (%s %s) with %s%s\n", s.Node, s.Template, s.From, to, s.To)
		}
		if len(s.After) > 0 {
			after := make([]string, len(s.After))
			for i, a := range s.After {
				after[i] = string(a)
			}
			fmt.Fprintf(bw, "       after %s\n", strings.Join(after, ", "))
		}
		fmt.Fprintf(bw, "       why: %s\n", s.Reason)
	}
	if len(p.Satisfied) > 0 {
		fmt.Fprintln(bw, "\nAlready met:")
	}
	for _, c := range p.Satisfied {
		fmt.Fprintf(bw, "  %s (%s) has %s, meets %s, required by %s\n", c.Node, c.Template, c.Version, c.Demand.Constraint, c.Demand.Source())
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(bw, "\nWarnings:")
	}
	for _, warning := range p.Warnings {
		fmt.Fprintf(bw, "  ! %s\n", warning)
	}
	return bw.Flush()
}

// String returns the text WriteText writes.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b) // a strings.Builder does not fail
	return b.String()
}
