//go:build !unix

package pkgsource

// openNonblock is 0 where opening a FIFO does not wait for a writer, or
// where there is none.
const openNonblock = 0
