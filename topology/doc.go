// Package topology parses and validates nslab topology files into a Lab
// model. It is pure Go: no root, no system calls. Every error carries the
// file:line:col it refers to and says how to fix it.
package topology
