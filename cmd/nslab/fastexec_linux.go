//go:build cgo

package main

// The fast path of nslab exec. Starting the Go runtime and nslab's
// packages costs milliseconds; a command run in a node should cost what
// nsenter does. Like runc's nsexec, this C constructor runs before the Go
// runtime starts: for `nslab exec NODE [--] CMD...` it resolves the node,
// enters its namespaces the way ip netns exec does and execs CMD. Anything
// it is not sure about (flags, an unknown or ambiguous node, a failure)
// returns to the Go code, which does the same work and reports errors.

/*
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define NETNS_DIR "/run/netns/"
#define STATE_DIR "/run/nslab/"
#define ETC_NETNS "/etc/netns/"

// resolve writes the namespace name of ref ("LAB.NODE", or a bare NODE
// that is unique among running labs) into out; 0 on success. A bare name
// is looked for as /run/netns/LAB.NODE for each lab with state in
// /run/nslab: a handful of entries, where /run/netns may hold thousands
// (and a tmpfs directory that once held them stays slow to read).
static int nslab_resolve(const char *ref, char *out, size_t n) {
	if (strchr(ref, '/') || strlen(ref) + 1 > n || ref[0] == '.' || ref[0] == 0)
		return -1;
	if (strchr(ref, '.')) {
		strcpy(out, ref);
		return 0;
	}
	DIR *d = opendir(STATE_DIR);
	if (!d)
		return -1;
	int found = 0;
	char path[768];
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strlen(e->d_name) + 1 + strlen(ref) + 1 > n)
			continue;
		snprintf(path, sizeof path, NETNS_DIR "%s.%s", e->d_name, ref);
		if (access(path, F_OK) == 0) {
			snprintf(out, n, "%s.%s", e->d_name, ref);
			found++;
		}
	}
	closedir(d);
	return found == 1 ? 0 : -1;
}

// nslab_is_lab checks that the namespace belongs to a lab with state,
// and sets NSLAB_LAB and NSLAB_NODE.
static int nslab_is_lab(const char *ns) {
	char lab[256], path[512];
	const char *dot = strchr(ns, '.');
	size_t l = dot - ns;
	if (!dot || l == 0 || l >= sizeof lab)
		return -1;
	memcpy(lab, ns, l);
	lab[l] = 0;
	snprintf(path, sizeof path, STATE_DIR "%s", lab);
	if (access(path, F_OK) != 0)
		return -1;
	setenv("NSLAB_LAB", lab, 1);
	setenv("NSLAB_NODE", dot + 1, 1);
	return 0;
}

// nslab_bind_etc binds /etc/netns/NS/* over /etc/*, as ip netns exec does.
static int nslab_bind_etc(const char *ns) {
	char dir[512], src[1024], dst[1024];
	snprintf(dir, sizeof dir, ETC_NETNS "%s", ns);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(src, sizeof src, "%s/%s", dir, e->d_name);
		snprintf(dst, sizeof dst, "/etc/%s", e->d_name);
		if (mount(src, dst, "none", MS_BIND, NULL) != 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

// nslab_bind_lab_file binds the lab's file (hosts, resolv.conf) over its
// namesake in /etc, unless the node has its own in /etc/netns/NS (bound
// above), as lab.HostsFile and lab.ResolvFile say.
static int nslab_bind_lab_file(const char *ns, const char *file) {
	char own[512], labs[512], etc[512];
	const char *dot = strchr(ns, '.');
	snprintf(own, sizeof own, ETC_NETNS "%s/%s", ns, file);
	if (!dot || access(own, F_OK) == 0)
		return 0;
	snprintf(labs, sizeof labs, STATE_DIR "%.*s/%s", (int)(dot - ns), ns, file);
	if (access(labs, F_OK) != 0)
		return 0;
	snprintf(etc, sizeof etc, "/etc/%s", file);
	return mount(labs, etc, "none", MS_BIND, NULL);
}

// nslab_enter_uts enters the node's UTS namespace, kept as /NODE in the
// lab's holder mount namespace STATE_DIR/LAB/uts (kernel.EnsureUTSHolder):
// into the holder to open it, back to our own mount namespace and working
// directory, then setns. A lab without a holder is left alone; 0 on
// success.
static int nslab_enter_uts(const char *ns) {
	char holder[512], node[300];
	const char *dot = strchr(ns, '.');
	snprintf(holder, sizeof holder, STATE_DIR "%.*s/uts", (int)(dot - ns), ns);
	snprintf(node, sizeof node, "/%s", dot + 1);
	int h = open(holder, O_RDONLY | O_CLOEXEC);
	if (h < 0)
		return 0;
	int host = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC), cwd = open(".", O_PATH | O_CLOEXEC), u = -1, rc = -1;
	if (host < 0)
		goto out;
	if (setns(h, CLONE_NEWNS) != 0) {
		rc = 0; // not a holder: nothing to enter
		goto out;
	}
	u = open(node, O_RDONLY | O_CLOEXEC);
	if (setns(host, CLONE_NEWNS) != 0) {
		perror("nslab: returning to the host's mount namespace");
		_exit(126);
	}
	if (cwd >= 0 && fchdir(cwd) != 0)
		goto out;
	rc = u < 0 ? 0 : setns(u, CLONE_NEWUTS);
out:
	close(h);
	if (host >= 0)
		close(host);
	if (cwd >= 0)
		close(cwd);
	if (u >= 0)
		close(u);
	return rc;
}

__attribute__((constructor)) static void nslab_fast_exec(int argc, char **argv, char **envp) {
	(void)envp;
	if (argc < 4 || strcmp(argv[1], "exec") != 0 || argv[2][0] == '-' || getenv("NSLAB_NO_FAST_EXEC"))
		return;
	int cmd = 3;
	if (strcmp(argv[3], "--") == 0)
		cmd = 4;
	if (cmd >= argc)
		return;
	char ns[256], path[512];
	if (nslab_resolve(argv[2], ns, sizeof ns) != 0 || nslab_is_lab(ns) != 0)
		return;
	snprintf(path, sizeof path, NETNS_DIR "%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (nslab_enter_uts(ns) != 0) {
		close(fd);
		return;
	}
	if (unshare(CLONE_NEWNS) != 0 || mount("", "/", "none", MS_SLAVE | MS_REC, NULL) != 0 ||
	    setns(fd, CLONE_NEWNET) != 0)
		return;
	close(fd);
	umount2("/sys", MNT_DETACH);
	if (mount(ns, "/sys", "sysfs", 0, NULL) != 0 || nslab_bind_etc(ns) != 0 || nslab_bind_lab_file(ns, "hosts") != 0 ||
	    nslab_bind_lab_file(ns, "resolv.conf") != 0)
		return;
	execvp(argv[cmd], argv + cmd);
	// Not found or not runnable: the Go code reports it.
}
*/
import "C"
