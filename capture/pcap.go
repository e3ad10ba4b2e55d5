package capture

import (
	"encoding/binary"
	"io"
	"time"
)

// LinkTypeEthernet is pcap's link type of Ethernet frames, what veth
// pairs and bridges carry.
const LinkTypeEthernet = 1

// Writer writes packets in the pcap file format with nanosecond
// timestamps (magic 0xa1b23c4d), which tcpdump, Wireshark and tshark
// read.
type Writer struct {
	w   io.Writer
	buf [16]byte
}

// NewWriter writes the file header: link type and snaplen.
func NewWriter(w io.Writer, snaplen uint32, linkType uint32) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// WritePacket writes one packet: its captured bytes and its length on
// the wire.
func (w *Writer) WritePacket(ts time.Time, data []byte, length int) error {
	binary.LittleEndian.PutUint32(w.buf[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(w.buf[4:], uint32(ts.Nanosecond()))
	binary.LittleEndian.PutUint32(w.buf[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.buf[12:], uint32(length))
	if _, err := w.w.Write(w.buf[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}
