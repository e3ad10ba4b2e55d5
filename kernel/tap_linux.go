package kernel

import (
	"fmt"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

func (o *TapAdd) Apply(c *Conn) error {
	uid, gid, err := o.owner()
	if err != nil {
		return opErr("", "creating tap "+o.Name, err)
	}
	h, err := c.Handle("")
	if err != nil {
		return opErr("", "creating tap "+o.Name, err)
	}
	if err := makeTap(o.Name, uid, gid); err != nil {
		return opErr("", "creating tap "+o.Name, err)
	}
	l, err := h.LinkByName(o.Name)
	if err != nil {
		return opErr("", "finding tap "+o.Name, err)
	}
	if err := h.LinkSetGroup(l, int(o.Tags.Group)); err != nil {
		return opErr("", "marking tap "+o.Name, err)
	}
	if o.MTU > 0 {
		if err := h.LinkSetMTU(l, o.MTU); err != nil {
			return opErr("", fmt.Sprintf("setting the MTU of tap %s to %d", o.Name, o.MTU), err)
		}
	}
	return setUpEnd(c, "", int32(l.Attrs().Index), o.Name, o.Tags, o.Master, true)
}

// makeTap creates a persistent tap; an owner or group of -1 is none. (The
// netlink library's Tuntap sets both always, and a group the user is not
// in locks the user out.)
func makeTap(name string, uid, gid uint32) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	if uid != none {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, int(uid)); err != nil {
			return fmt.Errorf("setting the owner to %d: %w", uid, err)
		}
	}
	if gid != none {
		if err := unix.IoctlSetInt(fd, unix.TUNSETGROUP, int(gid)); err != nil {
			return fmt.Errorf("setting the group to %d: %w", gid, err)
		}
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("making it persistent: %w", err)
	}
	return nil
}

const none = ^uint32(0)

// owner resolves User and Group to ids; none when not set.
func (o *TapAdd) owner() (uid, gid uint32, err error) {
	uid, gid = ^uint32(0), ^uint32(0)
	if o.User != "" {
		id, err := lookupID(o.User, func(s string) (string, error) {
			u, err := user.Lookup(s)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("user %s: %w", o.User, err)
		}
		uid = id
	}
	if o.Group != "" {
		id, err := lookupID(o.Group, func(s string) (string, error) {
			g, err := user.LookupGroup(s)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("group %s: %w", o.Group, err)
		}
		gid = id
	}
	return uid, gid, nil
}

// lookupID takes a number as it is and looks a name up.
func lookupID(s string, lookup func(string) (string, error)) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	id, err := lookup(s)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(id, 10, 32)
	return uint32(n), err
}
