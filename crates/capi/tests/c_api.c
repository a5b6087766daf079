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
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
