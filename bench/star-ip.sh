#!/bin/bash
# star-ip.sh: the seed's way of building a lab, kept as the baseline of the
# benchmark. It builds a star of N network namespaces on one Linux bridge
# with plain ip commands, one after another, exactly as a person would type
# them, and tears it down again.
#
#   star-ip.sh up N [PREFIX]     build: bridge PREFIX-br, nodes PREFIX.h1 … PREFIX.hN
#   star-ip.sh down N [PREFIX]   remove them (whatever of them exists)
#
# Addressing is dual-stack like `nslab gen star`: the bridge (host side) has
# 10.201.0.1/16 and fd10:201::1/64, node i has 10.201.x.y/16 and
# fd10:201::(i+1)/64 with x.y = i+1. These are lab-only subnets: nothing is
# routed off the machine. PREFIX defaults to "bip" (bench ip).
set -u

cmd=${1:?usage: star-ip.sh up|down N [PREFIX]}
n=${2:?usage: star-ip.sh up|down N [PREFIX]}
p=${3:-bip}
br=$p-br

case $cmd in
up)
	set -e
	ip link add $br type bridge
	ip addr add 10.201.0.1/16 dev $br
	ip addr add fd10:201::1/64 dev $br
	ip link set $br up
	for i in $(seq 1 $n); do
		ns=$p.h$i
		a=$((i + 1))
		ip netns add $ns
		ip link add $p-v$i type veth peer name $p-e$i
		ip link set $p-e$i netns $ns
		ip -n $ns link set $p-e$i name eth0
		ip -n $ns addr add 10.201.$((a >> 8)).$((a & 255))/16 dev eth0
		ip -n $ns addr add fd10:201::$(printf %x $a)/64 dev eth0
		ip -n $ns link set lo up
		ip -n $ns link set eth0 up
		ip link set $p-v$i master $br
		ip link set $p-v$i up
	done
	;;
down)
	# Deleting a namespace deletes its end of the cable, and with it the
	# bridge port; then the bridge goes. Missing pieces are no error, so
	# this also cleans up after a build that failed part-way.
	for i in $(seq 1 $n); do
		ip netns del $p.h$i 2>/dev/null
	done
	ip link del $br 2>/dev/null
	for i in $(seq 1 $n); do
		# Only when a build stopped between "ip link add" and "netns".
		[ -e /sys/class/net/$p-v$i ] && ip link del $p-v$i 2>/dev/null
	done
	exit 0
	;;
*)
	echo "usage: star-ip.sh up|down N [PREFIX]" >&2
	exit 2
	;;
esac
