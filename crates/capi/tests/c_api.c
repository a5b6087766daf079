/* libxenmig from C, as a toolstack calls it: every function, its successes
 * and its failure paths. Run by crates/capi/tests/c_api.rs (linked against
 * libxenmig.so and against libxenmig.a, and under valgrind) as
 *
 *     c_api REPO_ROOT VERSION
 *
 * Expected outputs are the tools' golden files in testdata/golden/, which
 * the tests of crates/cli check against the tools themselves. Exits 0 when
 * every check passed, 1 otherwise, naming each failed check. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xenmig.h>

static int failures;
static const char *root;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            failures++;                                                      \
        }                                                                    \
    } while (0)

#define CHECK_CODE(call, expected)                                            \
    do {                                                                      \
        int code_ = (call);                                                   \
        if (code_ != (expected)) {                                            \
            const char *message_ = xenmig_last_message();                     \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d; message: %s", \
                    __FILE__, __LINE__, #call, code_, (expected),             \
                    message_ ? message_ : "(none)\n");                        \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static int starts_with(const char *text, const char *prefix)
{
    return text != NULL && strncmp(text, prefix, strlen(prefix)) == 0;
}

static char *path_in_repo(const char *relative)
{
    char *path;
    if (asprintf(&path, "%s/%s", root, relative) < 0) {
        perror("asprintf");
        exit(2);
    }
    return path;
}

static int open_in_repo(const char *relative)
{
    char *path = path_in_repo(relative);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    free(path);
    return fd;
}

/* A whole file of the repository, NUL-terminated. */
static char *read_in_repo(const char *relative)
{
    int fd = open_in_repo(relative);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        perror("fstat");
        exit(2);
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t done = 0;
    while (text != NULL && done < (size_t)st.st_size) {
        ssize_t got = read(fd, text + done, (size_t)st.st_size - done);
        if (got <= 0) {
            perror("read");
            exit(2);
        }
        done += (size_t)got;
    }
    if (text == NULL) {
        exit(2);
    }
    text[done] = '\0';
    close(fd);
    return text;
}

/* The golden file `relative` without its final newline (the tools end
 * their output with one; the library's strings do not). */
static char *golden_without_newline(const char *relative)
{
    char *text = read_in_repo(relative);
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] == '\n') {
        text[len - 1] = '\0';
    }
    return text;
}

/* `text` with every `from` replaced by `to` (a new string). */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t count = 0, from_len = strlen(from), to_len = strlen(to);
    for (const char *at = strstr(text, from); at != NULL; at = strstr(at + from_len, from)) {
        count++;
    }
    char *result = malloc(strlen(text) + count * to_len + 1);
    if (result == NULL) {
        exit(2);
    }
    char *out = result;
    for (const char *at; (at = strstr(text, from)) != NULL; text = at + from_len) {
        memcpy(out, text, (size_t)(at - text));
        out += at - text;
        memcpy(out, to, to_len);
        out += to_len;
    }
    strcpy(out, text);
    return result;
}

/* A golden file of xen-maskcalc run on dump files, with the hosts named as
 * the library names them: the path given as the tool's i-th argument
 * becomes `dumps[i]`. */
static char *golden_for_dumps(const char *golden, const char *const *paths, size_t n)
{
    char *text = read_in_repo(golden);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "dumps[%zu]", i);
        char *renamed = replace_all(text, paths[i], name);
        free(text);
        text = renamed;
    }
    return text;
}

/* A pipe whose read end holds the whole file `relative` (small enough to
 * fit the pipe's buffer) and then its end. */
static int pipe_of(const char *relative)
{
    int fds[2];
    char buf[65536];
    int file = open_in_repo(relative);
    ssize_t got = read(file, buf, sizeof buf);
    if (got <= 0 || read(file, buf, 1) != 0 || pipe2(fds, O_CLOEXEC) != 0 ||
        write(fds[1], buf, (size_t)got) != got) {
        fprintf(stderr, "%s: cannot be put in a pipe whole\n", relative);
        exit(2);
    }
    close(file);
    close(fds[1]);
    return fds[0];
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void test_version(const char *expected)
{
    const char *version = xenmig_version();
    CHECK(version != NULL && strcmp(version, expected) == 0);
    CHECK(version == xenmig_version()); /* static: the same string each time */
}

static void test_free(void)
{
    xenmig_free(NULL); /* ignored, as free(NULL) */
}

static void test_verify(void)
{
    char *report = NULL;

    /* A valid xl save file, from a regular file: exit 0 and the tool's JSON. */
    int fd = open_in_repo("testdata/streams/xl-pv-v3.bin");
    char *expected = golden_without_newline("testdata/golden/verify-stream-v2/xl-pv-v3.json");
    CHECK_CODE(xenmig_verify_fd(fd, "auto", &report), 0);
    CHECK(report != NULL && strcmp(report, expected) == 0);
    CHECK(xenmig_last_message() == NULL);
    CHECK(is_open(fd)); /* borrowed, never closed */
    xenmig_free(report);
    /* The descriptor's offset moved to the end, as with `-i FD`. */
    CHECK(lseek(fd, 0, SEEK_CUR) == lseek(fd, 0, SEEK_END));

    /* From the start again, naming the format. */
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK_CODE(xenmig_verify_fd(fd, "xl", &report), 0);
    CHECK(report != NULL && strcmp(report, expected) == 0);
    xenmig_free(report);
    close(fd);

    /* The same stream from a pipe gives the same report. */
    fd = pipe_of("testdata/streams/xl-pv-v3.bin");
    CHECK_CODE(xenmig_verify_fd(fd, "auto", &report), 0);
    CHECK(report != NULL && strcmp(report, expected) == 0);
    CHECK(is_open(fd));
    xenmig_free(report);
    close(fd);
    free(expected);

    /* An invalid stream: exit 1, the report with its error, the tool's message. */
    fd = open_in_repo("testdata/verify/page-data.duplicate-pfn.stream");
    expected = golden_without_newline("testdata/golden/verify-stream-v2/duplicate-pfn.json");
    CHECK_CODE(xenmig_verify_fd(fd, "auto", &report), 1);
    CHECK(report != NULL && strcmp(report, expected) == 0);
    const char *message = xenmig_last_message();
    CHECK(starts_with(message, "verify-stream-v2: Stream Error: fd "));
    CHECK(message != NULL && strchr(message, '\n') == message + strlen(message) - 1);
    xenmig_free(report);
    free(expected);

    /* The wrong layer named: the xl stream read as a bare libxc stream is invalid. */
    int xl = open_in_repo("testdata/streams/xl-pv-v3.bin");
    CHECK_CODE(xenmig_verify_fd(xl, "libxc", &report), 1);
    CHECK(report != NULL && strstr(report, "\"error\": {") != NULL);
    xenmig_free(report);
    close(xl);

    /* Reading fails (a directory): exit 2, still a report, which says why. */
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir >= 0);
    CHECK_CODE(xenmig_verify_fd(dir, "auto", &report), 2);
    CHECK(report != NULL && strstr(report, "\"io_error\": \"") != NULL);
    CHECK(starts_with(xenmig_last_message(), "verify-stream-v2: fd "));
    xenmig_free(report);
    close(dir);

    /* Usage errors: exit 2, no report, a message naming the function. */
    report = (char *)"not cleared";
    CHECK_CODE(xenmig_verify_fd(fd, "xm", &report), 2);
    CHECK(report == NULL);
    CHECK(starts_with(xenmig_last_message(),
                      "xenmig_verify_fd: format: expected one of auto, libxc, libxl, xl; found \"xm\""));
    CHECK_CODE(xenmig_verify_fd(fd, NULL, &report), 2);
    CHECK(report == NULL);
    CHECK(starts_with(xenmig_last_message(), "xenmig_verify_fd: format is NULL"));
    CHECK_CODE(xenmig_verify_fd(fd, "auto", NULL), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_verify_fd: report_json is NULL"));
    CHECK_CODE(xenmig_verify_fd(-1, "auto", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_verify_fd: fd -1 is not an open file descriptor"));
    CHECK(report == NULL);
    close(fd);
    CHECK_CODE(xenmig_verify_fd(fd, "auto", &report), 2); /* closed just now */
    CHECK(report == NULL);
    fd = open_in_repo("testdata/streams/xl-pv-v3.bin");
    CHECK_CODE(xenmig_verify_fd(fd, "\xff", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_verify_fd: format is not UTF-8"));
    close(fd);
}

static void test_pool_masks(void)
{
    char *output = NULL;
    char *node1 = read_in_repo("testdata/cpuid/readme-node1.txt");
    char *node2 = read_in_repo("testdata/cpuid/readme-node2.txt");
    const char *readme[] = {node1, node2};

    /* The original tool's example, byte for byte. */
    char *expected = read_in_repo("testdata/golden/xen-maskcalc/readme-default.txt");
    CHECK_CODE(xenmig_pool_masks(readme, 2, "", &output), 0);
    CHECK(output != NULL && strcmp(output, expected) == 0);
    CHECK(xenmig_last_message() == NULL);
    xenmig_free(output);
    free(expected);

    const char *readme_paths[] = {"testdata/cpuid/readme-node1.txt",
                                  "testdata/cpuid/readme-node2.txt"};
    expected = golden_for_dumps("testdata/golden/xen-maskcalc/readme-verbose.txt", readme_paths, 2);
    CHECK_CODE(xenmig_pool_masks(readme, 2, "-v", &output), 0);
    CHECK(output != NULL && strcmp(output, expected) == 0);
    xenmig_free(output);
    free(expected);

    /* Another format, three hosts, and what the tool writes to standard
     * error on success (-v's explanation, when the masks are not xend's). */
    char *haswell = read_in_repo("testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt");
    char *skylake = read_in_repo("testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt");
    char *icelake = read_in_repo("testdata/cpuid/intel-icelake-sp-xeon-gold-6330.txt");
    const char *intel[] = {haswell, skylake, icelake};
    /* The golden file is written for Xen 4.22's libxl, whatever is installed. */
    expected = read_in_repo("testdata/golden/xen-maskcalc/intel-pool.xl");
    CHECK_CODE(xenmig_pool_masks(intel, 3, "--format xl --xen-version 4.22", &output), 0);
    CHECK(output != NULL && strcmp(output, expected) == 0);
    xenmig_free(output);
    CHECK_CODE(xenmig_pool_masks(intel, 3, "  --format\txl --xen-version 4.22 -v ", &output), 0);
    CHECK(output != NULL && strcmp(output, expected) == 0);
    /* Skylake's dump was taken by a 32-bit cpuid: said first, as the tool
     * does; then which consumer release the output is written for, then
     * -v's explanation. */
    CHECK(starts_with(xenmig_last_message(), "xen-maskcalc: warning: dumps[1]: SYSCALL"));
    CHECK(strstr(xenmig_last_message(),
                 "\nxen-maskcalc: writing for Xen 4.22 (--xen-version)\n") != NULL);
    CHECK(strstr(xenmig_last_message(), "\n== Masked features ==\n") != NULL);
    xenmig_free(output);
    free(expected);

    /* A report (--diff, never coloured: no escape sequence) and JSON, which
     * name the hosts (the goldens' columns and key order follow the paths). */
    CHECK_CODE(xenmig_pool_masks(intel, 3, "--diff", &output), 0);
    CHECK(starts_with(output, "feature           location           class       "
                              "dumps[0]  dumps[1]  dumps[2]\n"
                              "TURBO             0x6.eax[1]         hidden      "
                              "-         yes       yes\n"));
    CHECK(output != NULL && strchr(output, '\033') == NULL);
    xenmig_free(output);
    CHECK_CODE(xenmig_pool_masks(intel, 3, "--json", &output), 0);
    CHECK(starts_with(output, "{\n"));
    CHECK(output != NULL && strstr(output, "\"name\": \"dumps[2]\",\n") != NULL);
    xenmig_free(output);

    /* --help is the tool's standard output, exit 0. */
    CHECK_CODE(xenmig_pool_masks(readme, 2, "--help", &output), 0);
    CHECK(starts_with(output, "A utility that calculates a XEN CPUID difference mask."));
    xenmig_free(output);

    /* Bad input: exit 1, no output, the tool's message. */
    CHECK_CODE(xenmig_pool_masks(readme, 1, "", &output), 1);
    CHECK(output == NULL);
    CHECK(starts_with(xenmig_last_message(),
                      "xen-maskcalc: Need at least 2 files to do the comparison!\n"));
    const char *garbage[] = {node1, "not a dump\n"};
    CHECK_CODE(xenmig_pool_masks(garbage, 2, "", &output), 1);
    CHECK(output == NULL);
    CHECK(starts_with(xenmig_last_message(), "xen-maskcalc: dumps[1]: cannot tell the dump format"));
    char *milan = read_in_repo("testdata/cpuid/amd-milan-epyc-7763.txt");
    const char *mixed[] = {node1, milan};
    CHECK_CODE(xenmig_pool_masks(mixed, 2, "", &output), 1);
    CHECK(starts_with(xenmig_last_message(),
                      "xen-maskcalc: hosts of different CPU vendors cannot share a migration pool "
                      "(dumps[0]: GenuineIntel, dumps[1]: AuthenticAMD)"));
    CHECK_CODE(xenmig_pool_masks(mixed, 2, "--allow-mixed-vendors", &output), 0);
    xenmig_free(output);
    CHECK_CODE(xenmig_pool_masks(readme, 2, "--input-format json", &output), 1);
    CHECK(starts_with(xenmig_last_message(), "xen-maskcalc: dumps[0]:1: expected a xenmig CPUID dump"));

    /* Usage errors: exit 2, no output. */
    CHECK_CODE(xenmig_pool_masks(readme, 2, "--hide nosuch", &output), 2);
    CHECK(output == NULL);
    CHECK(starts_with(xenmig_last_message(), "xen-maskcalc: unknown CPUID feature `nosuch`"));
    CHECK_CODE(xenmig_pool_masks(readme, 2, "--bogus", &output), 2);
    CHECK(starts_with(xenmig_last_message(), "error: unexpected argument '--bogus' found"));
    CHECK_CODE(xenmig_pool_masks(readme, 2, "node3.txt", &output), 2);
    CHECK(starts_with(xenmig_last_message(),
                      "xenmig_pool_masks: options: expected options only, found the dump file \"node3.txt\""));
    CHECK_CODE(xenmig_pool_masks(NULL, 0, "", &output), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_pool_masks: dumps is NULL"));
    const char *with_null[] = {node1, NULL};
    CHECK_CODE(xenmig_pool_masks(with_null, 2, "", &output), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_pool_masks: dumps[1] is NULL"));
    CHECK_CODE(xenmig_pool_masks(readme, 2, NULL, &output), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_pool_masks: options is NULL"));
    CHECK_CODE(xenmig_pool_masks(readme, 2, "", NULL), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_pool_masks: output is NULL"));
    CHECK(output == NULL);

    free(node1);
    free(node2);
    free(haswell);
    free(skylake);
    free(icelake);
    free(milan);
}

/* The whole content of `fd` from its start (a pipe: what is left in it). */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 1 << 16, done = 0;
    char *bytes = malloc(cap);
    if (bytes == NULL || (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE)) {
        perror("read_all");
        exit(2);
    }
    for (;;) {
        if (done == cap && (bytes = realloc(bytes, cap *= 2)) == NULL) {
            exit(2);
        }
        ssize_t got = read(fd, bytes + done, cap - done);
        if (got < 0) {
            perror("read");
            exit(2);
        }
        if (got == 0) {
            break;
        }
        done += (size_t)got;
    }
    *len = done;
    return bytes;
}

/* The report's `verbose` array holds exactly the lines of `golden`, in order. */
static int verbose_lines_match(const char *report, const char *golden)
{
    const char *at = report == NULL ? NULL : strstr(report, "\"verbose\": [");
    if (at == NULL) {
        return 0;
    }
    char *text = read_in_repo(golden);
    size_t lines = 0;
    int ok = 1;
    for (char *line = strtok(text, "\n"); line != NULL && ok; line = strtok(NULL, "\n")) {
        char *quoted;
        if (asprintf(&quoted, "\n    \"%s\"", line) < 0) {
            exit(2);
        }
        const char *found = strstr(at, quoted);
        ok = found != NULL;
        if (ok) {
            at = found + strlen(quoted);
        }
        free(quoted);
        lines++;
    }
    free(text);
    /* Nothing after the last line but the end of the array. */
    return ok && lines > 0 && starts_with(at, "\n  ]\n}");
}

static void test_convert_legacy(void)
{
    char *report = NULL;
    size_t len, pipe_len;

    /* libxl's invocation (the example), into a file: exit 0, the -v
     * lines the tool prints, a stream the verifier accepts. */
    int in = open_in_repo("testdata/legacy/hvm64-upstream.img");
    int out = memfd_create("converted", MFD_CLOEXEC);
    CHECK(out >= 0);
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "-w 64 -g hvm -f libxl -v", &report), 0);
    CHECK(verbose_lines_match(report, "testdata/golden/convert-legacy-stream/hvm64-upstream-libxl.txt"));
    CHECK(starts_with(report, "{\n  \"schema_version\": 1,\n"));
    CHECK(strstr(report, "\"width\": 64,") != NULL);
    CHECK(strstr(report, "\"guest_type\": \"hvm\",") != NULL);
    CHECK(strstr(report, "\"detected\": false,") != NULL);
    CHECK(xenmig_last_message() == NULL);
    CHECK(is_open(in) && is_open(out));
    xenmig_free(report);
    char *converted = read_all(out, &len);
    CHECK(len > 16 && memcmp(converted, "LibxlFmt", 8) == 0);
    CHECK(lseek(out, 0, SEEK_SET) == 0);
    CHECK_CODE(xenmig_verify_fd(out, "libxl", &report), 0);
    CHECK(report != NULL && strstr(report, "\"domain_type\": \"x86 HVM\"") != NULL);
    xenmig_free(report);
    close(out);
    close(in);

    /* The same from a pipe into a pipe (libxl's way): the same bytes. Width
     * and guest type detected, named differently: -g and --guest. */
    in = pipe_of("testdata/legacy/hvm64-upstream.img");
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    CHECK_CODE(xenmig_convert_legacy_fd(in, fds[1], "--guest hvm --format libxl", &report), 0);
    CHECK(strstr(report, "\"verbose\": []") != NULL);
    CHECK(strstr(report, "\"detected\": true,") != NULL);
    xenmig_free(report);
    close(fds[1]);
    close(in);
    char *piped = read_all(fds[0], &pipe_len);
    CHECK(pipe_len == len && memcmp(piped, converted, len) == 0);
    close(fds[0]);
    free(piped);
    free(converted);

    /* Another golden: a PV image to a bare libxc stream. */
    in = open_in_repo("testdata/legacy/pv64-guest64.img");
    out = memfd_create("converted", MFD_CLOEXEC);
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "-v -w 64 -g pv", &report), 0);
    CHECK(verbose_lines_match(report, "testdata/golden/convert-legacy-stream/pv64-guest64-libxc.txt"));
    xenmig_free(report);
    CHECK(lseek(out, 0, SEEK_SET) == 0);
    CHECK_CODE(xenmig_verify_fd(out, "libxc", &report), 0);
    xenmig_free(report);

    /* The wrong guest type: bad input, with the tool's advice. */
    CHECK(lseek(in, 0, SEEK_SET) == 0);
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "-w 64 -g hvm", &report), 1);
    CHECK(report == NULL);
    CHECK(starts_with(xenmig_last_message(), "convert-legacy-stream: fd "));
    CHECK(xenmig_last_message() != NULL && strstr(xenmig_last_message(), "(try -g pv)\n") != NULL);
    /* -q: the same failure, no message. */
    CHECK(lseek(in, 0, SEEK_SET) == 0);
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "-q -w 64 -g hvm", &report), 1);
    CHECK(xenmig_last_message() == NULL);

    /* The input itself as the output: refused before anything is written. */
    CHECK(lseek(in, 0, SEEK_SET) == 0);
    int same = dup(in);
    CHECK_CODE(xenmig_convert_legacy_fd(in, same, "", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "convert-legacy-stream: cannot open output fd "));
    close(same);
    /* An output that cannot be written (read-only): an I/O error. */
    int read_only = open_in_repo("testdata/legacy/pv64-guest64.img");
    CHECK_CODE(xenmig_convert_legacy_fd(in, read_only, "", &report), 2);
    CHECK(report == NULL);
    close(read_only);
    close(out);
    close(in);

    /* Content that cannot be converted (tmem): exit 2. */
    in = open_in_repo("testdata/legacy/unsupported-hvm64-tmem.img");
    out = memfd_create("converted", MFD_CLOEXEC);
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "", &report), 2);
    CHECK(report == NULL);
    CHECK(starts_with(xenmig_last_message(), "convert-legacy-stream: fd "));
    close(in);

    /* A truncated image: bad input, exit 1. */
    int cut[2];
    CHECK(pipe2(cut, O_CLOEXEC) == 0);
    char *image = read_in_repo("testdata/legacy/pv64-guest64.img");
    CHECK(write(cut[1], image, 4000) == 4000);
    close(cut[1]);
    free(image);
    CHECK_CODE(xenmig_convert_legacy_fd(cut[0], out, "-w 64 -g pv", &report), 1);
    CHECK(report == NULL);
    CHECK(starts_with(xenmig_last_message(), "convert-legacy-stream: fd "));
    close(cut[0]);
    close(out);

    /* Usage errors: exit 2, clap's message for the options. */
    in = open_in_repo("testdata/legacy/pv64-guest64.img");
    out = memfd_create("converted", MFD_CLOEXEC);
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "-w 48", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "error: invalid value '48' for '--width <32/64>'"));
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "-i 5", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "error: the argument '--in <FD or FILE>' cannot be used multiple times"));
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "--syslog", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_convert_legacy_fd: options: --syslog"));
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, NULL, &report), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_convert_legacy_fd: options is NULL"));
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "", NULL), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_convert_legacy_fd: report_json is NULL"));
    CHECK_CODE(xenmig_convert_legacy_fd(-1, out, "", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_convert_legacy_fd: in_fd -1 is not an open file descriptor"));
    CHECK_CODE(xenmig_convert_legacy_fd(in, -1, "", &report), 2);
    CHECK(starts_with(xenmig_last_message(), "xenmig_convert_legacy_fd: out_fd -1 is not an open file descriptor"));
    CHECK(report == NULL);
    /* Nothing was read or written by the refused calls. */
    CHECK(lseek(in, 0, SEEK_CUR) == 0);
    CHECK(lseek(out, 0, SEEK_END) == 0);

    /* --help: the tool's text, exit 0. */
    CHECK_CODE(xenmig_convert_legacy_fd(in, out, "--help", &report), 0);
    CHECK(starts_with(report, "Convert a legacy stream to a v2 (or later) stream."));
    xenmig_free(report);
    close(in);
    close(out);
}

static void *fail_on_another_thread(void *ok)
{
    char *report = NULL;
    int code = xenmig_verify_fd(-1, "auto", &report);
    *(int *)ok = code == 2 && report == NULL &&
                 starts_with(xenmig_last_message(), "xenmig_verify_fd: fd -1 ");
    return NULL;
}

/* The last message is per thread: another thread's failure leaves this
 * thread's (none, after a success) as it was. */
static void test_threads(void)
{
    char *output = NULL;
    char *node1 = read_in_repo("testdata/cpuid/readme-node1.txt");
    char *node2 = read_in_repo("testdata/cpuid/readme-node2.txt");
    const char *readme[] = {node1, node2};
    CHECK_CODE(xenmig_pool_masks(readme, 2, "", &output), 0);
    CHECK(xenmig_last_message() == NULL);
    pthread_t thread;
    int ok = 0;
    CHECK(pthread_create(&thread, NULL, fail_on_another_thread, &ok) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(ok);
    CHECK(xenmig_last_message() == NULL);
    xenmig_free(output);
    free(node1);
    free(node2);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s REPO_ROOT VERSION\n", argv[0]);
        return 2;
    }
    root = argv[1];
    test_version(argv[2]);
    test_free();
    test_verify();
    test_pool_masks();
    test_convert_legacy();
    test_threads();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
