/* Tries, from inside the sandbox, every operation the seccomp filter and
 * the other layers must refuse. Prints one line per operation:
 *   "<name>: refused (<errno text>)"   or   "<name>: ALLOWED"
 * and exits 0 when everything was refused, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/reboot.h>

static int failures;

static void check(const char *name, long rc) {
    if (rc < 0) {
        printf("%s: refused (%s)\n", name, strerror(errno));
    } else {
        printf("%s: ALLOWED (rc %ld)\n", name, rc);
        failures++;
    }
}

/* Run fn in a child; the op is refused if it fails or the child is killed. */
static void in_child(const char *name, long (*fn)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        long rc = fn();
        _exit(rc < 0 ? 10 + (errno & 0x7f) : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        printf("%s: refused (killed by signal %d)\n", name, WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("%s: ALLOWED\n", name);
        failures++;
    } else {
        printf("%s: refused (%s)\n", name, strerror(WEXITSTATUS(status) - 10));
    }
}

static long do_clone_newuser(void) {
    long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    if (rc > 0) waitpid(rc, 0, 0);
    return rc;
}

static long do_clone3_newuser(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    long rc = syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) _exit(0);
    if (rc > 0) waitpid(rc, 0, 0);
    return rc;
}

#if defined(__x86_64__)
/* unshare(CLONE_NEWUSER) through the i386 entry point: i386 syscall 310. */
static long do_int80_unshare(void) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(310), "b"(CLONE_NEWUSER) : "memory");
    if (ret < 0) { errno = -ret; return -1; }
    return ret;
}
/* x32 numbering: bit 30 set. */
static long do_x32_unshare(void) { return syscall(0x40000000 | SYS_unshare, CLONE_NEWUSER); }
#endif

static long do_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long do_unshare_net(void) { return unshare(CLONE_NEWNET); }
static long do_unshare_mount(void) { return unshare(CLONE_NEWNS); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    in_child("unshare(CLONE_NEWUSER)", do_unshare_user);
    in_child("unshare(CLONE_NEWNET)", do_unshare_net);
    in_child("unshare(CLONE_NEWNS)", do_unshare_mount);
    in_child("clone(CLONE_NEWUSER)", do_clone_newuser);
    in_child("clone3(CLONE_NEWUSER)", do_clone3_newuser);
#if defined(__x86_64__)
    in_child("int 0x80 unshare", do_int80_unshare);
    in_child("x32 unshare", do_x32_unshare);
#endif
    check("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    check("umount2 /proc", umount2("/proc", MNT_DETACH));
    check("pivot_root", syscall(SYS_pivot_root, ".", "."));
    check("chroot", chroot("/tmp"));
    int nsfd = open("/proc/self/ns/net", O_RDONLY);
    check("setns", syscall(SYS_setns, nsfd, 0));
    check("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    check("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/tmp", 1));
    char params[120] = {0};
    check("io_uring_setup", syscall(SYS_io_uring_setup, 1, params));
    char attr[128] = {0};
    check("bpf", syscall(SYS_bpf, 0, attr, sizeof attr));
    char pattr[128] = {0};
    pattr[4] = sizeof pattr; /* size field at offset 4 */
    check("perf_event_open", syscall(SYS_perf_event_open, pattr, 0, -1, -1, 0));
    check("userfaultfd", syscall(SYS_userfaultfd, 0));
    check("add_key", syscall(SYS_add_key, "user", "probe", "x", 1, -2 /* KEY_SPEC_PROCESS_KEYRING */));
    check("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -2, 0));
    check("ptrace(ATTACH, 1)", syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0));
    char buf[8];
    struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
    check("process_vm_readv(1)", syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0));
    check("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
    check("init_module", syscall(SYS_init_module, buf, 0, ""));
    char handle[64] = {0};
    handle[0] = 8;
    check("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, handle, 0));
    check("mknod char device", mknod("probe-dev", S_IFCHR | 0600, makedev(1, 3)));
    check("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, 1));
    check("socket(AF_PACKET)", socket(17 /* AF_PACKET */, SOCK_RAW, 0));
    struct timespec ts = {0, 0};
    check("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
    check("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, 0));
    /* TIOCSTI through a real terminal of the sandbox's own devpts. */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        char c = 'x';
        check("TIOCSTI", syscall(SYS_ioctl, slave, (unsigned long)TIOCSTI, &c));
        check("TIOCSTI with high bits", syscall(SYS_ioctl, slave, 0xffffffff00000000UL | TIOCSTI, &c));
        check("TIOCLINUX", syscall(SYS_ioctl, slave, (unsigned long)TIOCLINUX, &c));
    } else {
        printf("TIOCSTI: no pty to test with (%s)\n", strerror(errno));
        failures++;
    }
    printf("%s\n", failures ? "SOME OPERATIONS WERE ALLOWED" : "all refused");
    return failures ? 1 : 0;
}
