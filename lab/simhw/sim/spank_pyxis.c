/*
 * Simulated pyxis for the trainbed mock cluster: a real SPANK plugin, built at bring-up against
 * the host's Slurm headers (libslurm-dev) and loaded by srun, sbatch and slurmstepd through
 * plugstack.conf like NVIDIA's spank_pyxis.so.
 *
 * Real parts: the plugin arguments pyxis accepts (runtime_path=, execute_entrypoint=,
 * container_scope=, sbatch_support=; anything else makes Slurm refuse the plugin), the
 * --container-* options registered with Slurm (so srun/sbatch parse and forward them, and refuse
 * malformed values), the per-step flow in slurmstepd: `enroot import` of the image into
 * <runtime_path>, `enroot create` of a container named pyxis_<job>.<step> (or pyxis_<name> with
 * --container-name), `enroot start` to reach it, and every task entering it before exec.
 *
 * Simulated part: enroot's "container" is a directory, not a root filesystem, so a task "enters"
 * it through a private mount namespace in which the image's /opt and /usr/local are bind-mounted
 * over the node's, then --container-mounts and --container-workdir apply. The task sees the
 * image's programs at their real paths; the rest of the file system is the node's.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slurm/spank.h>

SPANK_PLUGIN(pyxis, 1)

#define PYXIS_VERSION "0.16.1"
#define ENROOT "/usr/bin/enroot"
#define MAXLEN 4096

static char runtime_path[MAXLEN] = "/run/pyxis";
static int container_scope_job = 0;
static char image[MAXLEN];
static char mounts[MAXLEN];
static char workdir[MAXLEN];
static char name[MAXLEN];
static int mount_home = -1;
static char rootfs[MAXLEN];

static int parse_bool(const char *s)
{
	if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "y"))
		return 1;
	if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "n"))
		return 0;
	return -1;
}

static int copy_arg(char *dst, const char *src, const char *what)
{
	if (src == NULL || *src == '\0') {
		slurm_error("pyxis: %s: argument required", what);
		return -1;
	}
	if (snprintf(dst, MAXLEN, "%s", src) >= MAXLEN) {
		slurm_error("pyxis: %s: argument too long", what);
		return -1;
	}
	return 0;
}

static int opt_image(int val, const char *optarg, int remote)
{
	return copy_arg(image, optarg, "--container-image");
}

static int opt_mounts(int val, const char *optarg, int remote)
{
	char copy[MAXLEN], *save = NULL, *entry;

	if (copy_arg(mounts, optarg, "--container-mounts") < 0)
		return -1;
	snprintf(copy, sizeof(copy), "%s", optarg);
	for (entry = strtok_r(copy, ",", &save); entry; entry = strtok_r(NULL, ",", &save)) {
		char *dst = strchr(entry, ':');
		if (entry[0] != '/' || (dst && dst[1] != '/')) {
			slurm_error("pyxis: --container-mounts: invalid format: %s", entry);
			return -1;
		}
	}
	return 0;
}

static int opt_workdir(int val, const char *optarg, int remote)
{
	if (copy_arg(workdir, optarg, "--container-workdir") < 0)
		return -1;
	if (workdir[0] != '/') {
		slurm_error("pyxis: --container-workdir: must be an absolute path: %s", workdir);
		return -1;
	}
	return 0;
}

static int opt_name(int val, const char *optarg, int remote)
{
	return copy_arg(name, optarg, "--container-name");
}

static int opt_mount_home(int val, const char *optarg, int remote)
{
	mount_home = val;
	return 0;
}

static struct spank_option options[] = {
	{"container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|PATH",
	 "[pyxis] the image to use for the container filesystem. Can be either a docker image "
	 "given as an enroot URI, or a path to a squashfs file on the remote host filesystem.",
	 1, 0, opt_image},
	{"container-mounts", "SRC:DST[:FLAGS][,SRC:DST...]",
	 "[pyxis] bind mount[s] inside the container. Mount flags are separated with \"+\", e.g. "
	 "\"ro+rprivate\"",
	 1, 0, opt_mounts},
	{"container-workdir", "PATH", "[pyxis] working directory inside the container", 1, 0,
	 opt_workdir},
	{"container-name", "NAME", "[pyxis] name to use for saving and loading the container on "
	 "the host.", 1, 0, opt_name},
	{"container-mount-home", NULL, "[pyxis] bind mount the user's home directory.", 0, 1,
	 opt_mount_home},
	{"no-container-mount-home", NULL, "[pyxis] do not bind mount the user's home directory",
	 0, 0, opt_mount_home},
	SPANK_OPTIONS_TABLE_END};

static int parse_config(int ac, char **av)
{
	for (int i = 0; i < ac; ++i) {
		const char *value = strchr(av[i], '=');
		int b;
		if (value == NULL) {
			slurm_error("pyxis: unknown configuration option: %s", av[i]);
			return -1;
		}
		value++;
		if (!strncmp(av[i], "runtime_path=", 13)) {
			if (copy_arg(runtime_path, value, "runtime_path") < 0)
				return -1;
		} else if (!strncmp(av[i], "container_scope=", 16)) {
			if (!strcmp(value, "job"))
				container_scope_job = 1;
			else if (!strcmp(value, "global"))
				container_scope_job = 0;
			else {
				slurm_error("pyxis: container_scope: invalid value: %s", value);
				return -1;
			}
		} else if (!strncmp(av[i], "execute_entrypoint=", 19) ||
			   !strncmp(av[i], "sbatch_support=", 15)) {
			if ((b = parse_bool(value)) < 0) {
				slurm_error("pyxis: %s: invalid value", av[i]);
				return -1;
			}
		} else {
			slurm_error("pyxis: unknown configuration option: %s", av[i]);
			return -1;
		}
	}
	return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();

	if (parse_config(ac, av) < 0)
		return -1;
	if (ctx != S_CTX_LOCAL && ctx != S_CTX_REMOTE && ctx != S_CTX_ALLOCATOR)
		return 0;
	for (int i = 0; options[i].name != NULL; ++i)
		if (spank_option_register(sp, &options[i]) != ESPANK_SUCCESS) {
			slurm_error("pyxis: couldn't register option %s", options[i].name);
			return -1;
		}
	return 0;
}

static char enroot_log[MAXLEN];

/* Run enroot as the current (user) credentials; its stderr (and stdout unless captured into
 * out) goes to enroot_log, which pyxis prints when a step fails. */
static int run_enroot(char *const argv[], char *out, size_t outlen)
{
	int pipefd[2], status, logfd;
	pid_t pid;
	ssize_t n;
	size_t used = 0;
	char sink[256];

	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		logfd = open(enroot_log[0] ? enroot_log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(out ? pipefd[1] : logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(ENROOT, argv);
		fprintf(stderr, "pyxis: cannot execute %s: %s\n", ENROOT, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		if (out && used < outlen - 1)
			n = read(pipefd[0], out + used, outlen - 1 - used);
		else
			n = read(pipefd[0], sink, sizeof(sink));
		if (n <= 0)
			break;
		if (out && used < outlen - 1)
			used += n;
	}
	close(pipefd[0]);
	if (out)
		out[used] = '\0';
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void print_enroot_log(void)
{
	char line[1024];
	FILE *fp = fopen(enroot_log, "r");
	if (fp == NULL)
		return;
	slurm_spank_log("pyxis: printing enroot log file:");
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = '\0';
		slurm_spank_log("pyxis:     %s", line);
	}
	fclose(fp);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[MAXLEN];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; ++p) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	return (mkdir(buf, mode) < 0 && errno != EEXIST) ? -1 : 0;
}

/* Once per node and step in slurmstepd, as the user: import, create and start the container. */
int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	uint32_t job = 0, step = 0;
	uid_t uid = 0;
	char cname[MAXLEN], squashfs[MAXLEN], dir[MAXLEN], uri[MAXLEN + 16];
	int rc;

	if (!spank_remote(sp) || (image[0] == '\0' && name[0] == '\0'))
		return 0;
	spank_get_item(sp, S_JOB_ID, &job);
	spank_get_item(sp, S_JOB_STEPID, &step);
	spank_get_item(sp, S_JOB_UID, &uid);
	if (name[0] != '\0' && container_scope_job)
		snprintf(cname, sizeof(cname), "pyxis_%u_%s", job, name);
	else if (name[0] != '\0')
		snprintf(cname, sizeof(cname), "pyxis_%s", name);
	else
		snprintf(cname, sizeof(cname), "pyxis_%u.%u", job, step);
	snprintf(dir, sizeof(dir), "%s/%u", runtime_path, (unsigned)uid);
	if (mkdir_p(dir, 0700) < 0) {
		slurm_error("pyxis: couldn't create %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(enroot_log, sizeof(enroot_log), "%s/%u.%u.log", dir, job, step);
	unlink(enroot_log);
	if (image[0] != '\0') {
		if (image[0] == '/' || image[0] == '.') {
			snprintf(squashfs, sizeof(squashfs), "%s", image);
		} else {
			snprintf(squashfs, sizeof(squashfs), "%s/%u.%u.squashfs", dir, job, step);
			snprintf(uri, sizeof(uri), "docker://%s", image);
			slurm_spank_log("pyxis: importing docker image: %s", image);
			char *imp[] = {"enroot", "import", "--output", squashfs, uri, NULL};
			if ((rc = run_enroot(imp, NULL, 0)) != 0) {
				slurm_error("pyxis: failed to import docker image");
				print_enroot_log();
				return -1;
			}
			slurm_spank_log("pyxis: imported docker image: %s", image);
		}
		char *create[] = {"enroot", "create", "--force", "--name", cname, squashfs, NULL};
		rc = run_enroot(create, NULL, 0);
		if (squashfs[0] != '\0' && strcmp(squashfs, image) != 0)
			unlink(squashfs);
		if (rc != 0) {
			slurm_error("pyxis: failed to create container filesystem");
			print_enroot_log();
			return -1;
		}
	}
	char *start[] = {"enroot", "start", cname, "printenv", "ENROOT_ROOTFS", NULL};
	if (run_enroot(start, rootfs, sizeof(rootfs)) != 0 || rootfs[0] != '/') {
		slurm_error("pyxis: couldn't start container %s", cname);
		print_enroot_log();
		return -1;
	}
	rootfs[strcspn(rootfs, "\n")] = '\0';
	spank_setenv(sp, "PYXIS_CONTAINER_NAME", cname, 1);
	if (image[0] != '\0')
		spank_setenv(sp, "TRAINBED_CONTAINER_IMAGE", image, 1);
	spank_setenv(sp, "ENROOT_ROOTFS", rootfs, 1);
	return 0;
}

static int bind(const char *src, const char *dst, int readonly)
{
	struct stat st;
	if (stat(src, &st) < 0) {
		slurm_error("pyxis: mount source %s: %s", src, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdir_p(dst, 0755) < 0)
			return -1;
	} else if (access(dst, F_OK) < 0) {
		int fd = open(dst, O_CREAT | O_WRONLY, 0644);
		if (fd >= 0)
			close(fd);
	}
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
		slurm_error("pyxis: couldn't bind %s on %s: %s", src, dst, strerror(errno));
		return -1;
	}
	if (readonly && mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		slurm_error("pyxis: couldn't make %s read-only: %s", dst, strerror(errno));
		return -1;
	}
	return 0;
}

/* In every task, as root, before exec: enter the container (a private mount namespace). */
int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
	static const char *overlay[] = {"opt", "usr/local", NULL};
	char src[MAXLEN], copy[MAXLEN], *save = NULL, *entry;

	if (!spank_remote(sp) || rootfs[0] == '\0')
		return 0;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		slurm_error("pyxis: couldn't create a mount namespace: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; overlay[i]; ++i) {
		snprintf(src, sizeof(src), "%s/%s", rootfs, overlay[i]);
		if (access(src, F_OK) == 0) {
			char dst[MAXLEN];
			snprintf(dst, sizeof(dst), "/%s", overlay[i]);
			if (bind(src, dst, 0) < 0)
				return -1;
		}
	}
	snprintf(copy, sizeof(copy), "%s", mounts);
	for (entry = strtok_r(copy, ",", &save); entry; entry = strtok_r(NULL, ",", &save)) {
		char *dst = strchr(entry, ':'), *flags = NULL;
		if (dst) {
			*dst++ = '\0';
			if ((flags = strchr(dst, ':')))
				*flags++ = '\0';
		}
		if (bind(entry, dst ? dst : entry, flags && strstr(flags, "ro") != NULL) < 0)
			return -1;
	}
	return 0;
}

/* In every task, as the user, just before exec. */
int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	if (!spank_remote(sp) || rootfs[0] == '\0' || workdir[0] == '\0')
		return 0;
	if (mkdir_p(workdir, 0755) < 0 || chdir(workdir) < 0) {
		slurm_error("pyxis: couldn't chdir to %s: %s", workdir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Once per node and step: remove a container made for this step only. */
int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	uint32_t job = 0, step = 0;
	char cname[MAXLEN];

	if (spank_context() != S_CTX_REMOTE || image[0] == '\0' || name[0] != '\0')
		return 0;
	spank_get_item(sp, S_JOB_ID, &job);
	spank_get_item(sp, S_JOB_STEPID, &step);
	snprintf(cname, sizeof(cname), "pyxis_%u.%u", job, step);
	char *rm[] = {"enroot", "remove", "--force", cname, NULL};
	run_enroot(rm, NULL, 0);
	return 0;
}
