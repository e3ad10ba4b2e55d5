// Package gen writes topology files of common shapes: a star of hosts on
// one segment, a line of routers, a Mininet-style tree of bridges, a
// routed leaf-spine fabric and a k-ary fat-tree. The files are ordinary,
// readable nslab topologies, ready for nslab up, with addresses and static
// routes filled in so that every node reaches every address of the lab.
//
// Generation is pure and linear in the number of nodes, with two
// exceptions bounded by limits: a line (at most 63 routers, for the TTL)
// routes every subnet on every router, and each leaf of a leaf-spine
// fabric routes every other leaf's subnet, so its routes grow with the
// square of the leaves (Generate refuses fabrics whose routes would not
// fit in a topology file). A fabric of 10,104 nodes takes about 15 ms.
//
// Addressing plans (IPv6 beside IPv4 unless Options.IPv4Only):
//
//   - Star and Tree: one segment, one subnet per family (default
//     10.0.0.0/16 and fd10::/64). The first address (10.0.0.1, fd10::1)
//     is kept for the host side of the (root) bridge and given to it only
//     with Host; host i gets the (i+1)-th address (h1: 10.0.0.2).
//   - Line: router i has LAN 10.0.i.0/24 and fd10:i::/64 (i in hex) on
//     bridge lan<i> with host h<i>: the router is .1/::1, the host .2/::2.
//     The cable between r<i> and r<i+1> is 10.255.0.2(i-1)/31 and
//     fd10::2(i-1)/127, the lower address on r<i>.
//   - LeafSpine: leaf l has subnet 10.0.l.0/24 (larger blocks, still the
//     l-th, when its hosts need more) and fd10:l::/64 on bridge lan<l>:
//     the leaf is the first address, hosts follow. The cable between spine
//     s and leaf l is the (l-1)-th /31 of block 10.255.s.0/24 (a larger
//     block past 128 leaves) and the (l-1)-th /127 of fd10:0:s::/64, the
//     even address on the spine.
//   - FatTree: pod p owns 10.p.0.0/16 and fd10:p::/32, with the third
//     octet mirrored in the third IPv6 group: edge i's LAN is 10.p.i.0/24
//     (edge .1, hosts .2 ...), its cables to the pod's aggregation
//     routers are in 10.p.(128+i).0/24, and the cables of aggregation
//     router j to its cores in 10.p.(64+j).0/24; the even address of a
//     cable is on the upper router.
package gen
