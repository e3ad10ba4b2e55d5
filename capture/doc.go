// Package capture is the pure part of nslab capture: a compiler of
// tcpdump-style filter expressions to classic BPF (no libpcap, no cgo: a
// static build keeps filters), and a writer of the pcap file format. The
// socket that captures lives in package kernel (kernel.OpenCapture).
package capture
