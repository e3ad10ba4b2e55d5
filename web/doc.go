// Package web is nslab web: a page, served by nslab on loopback, that
// shows every running lab live. Its topology is laid out on the server
// (Layout) and drawn in SVG by plain JavaScript embedded in the binary;
// each cable's state and traffic (rates from the kernel's counters, read
// through one socket for every namespace) and the labs' events (package
// journal, merged with the kernel's notifications) are pushed to the page
// every second over one streamed response. A click on a node shows its
// interfaces, addresses, routes and processes, one on a cable both ends
// and their counters; the page cuts and joins cables, under the lab's
// lock as the CLI does.
//
// Every request must carry the token the server prints at its start (in
// the X-Nslab-Token header; the page's own address carries it once, then
// the page keeps it in sessionStorage, never in a cookie); its Host must
// be the address the server listens on (or localhost at its port), and
// an Origin, when sent, that same address: a page of another site cannot
// drive it, even through a DNS name rebound to 127.0.0.1.
package web
