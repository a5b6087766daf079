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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    CHECK(starts_with(xenmig_last_message(),
                      "xen-maskcalc: writing for Xen 4.22 (--xen-version)\n== Masked features ==\n"));
    xenmig_free(output);
    free(expected);

    /* A report (--diff, never coloured: no escape sequence) and JSON, which
     * name the hosts (the goldens' columns and key order follow the paths). */
    CHECK_CODE(xenmig_pool_masks(intel, 3, "--diff", &output), 0);
    CHECK(starts_with(output, "feature           location            class       "
                              "dumps[0]  dumps[1]  dumps[2]\n"
                              "TURBO             0x6.eax[1]          hidden      "
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
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
