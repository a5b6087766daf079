/* libxenmig: the xenmig tools as a C library (docs/embedding.md).
 * Generated from crates/capi/src/lib.rs by `cargo xtask codegen`: do not edit. */

#ifndef XENMIG_H
#define XENMIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The version of libxenmig, such as `"0.1.0"`: the version of the xenmig
 * tools it matches. The string is static: do not free it.
 */
const char *xenmig_version(void);

/**
 * What the last call of a libxenmig function returning an exit code, on
 * this thread, would have written to standard error as a tool: its error
 * message and warnings, each line ending in a newline (such as
 * `"verify-stream-v2: Stream Error: fd 3: ...\n"`); NULL when there was
 * nothing to say. The string belongs to the library and stays valid until
 * the next such call on this thread: do not free it.
 */
const char *xenmig_last_message(void);

/**
 * Frees a string that a libxenmig function handed over (a report, an
 * output). NULL is ignored.
 *
 * # Safety
 *
 * `text` is NULL or a string from libxenmig that has not been freed yet.
 */
void xenmig_free(char *text);

/**
 * Verifies the migration stream on `fd`, as `verify-stream-v2 --json -f
 * FORMAT -i FD` does: returns its exit code (0 a valid stream, 1 an invalid
 * or truncated one, 2 a usage or I/O error) and sets `*report_json` to the
 * JSON report it prints (NULL when there is none: a usage error). The
 * message the tool would print is in `xenmig_last_message()`.
 *
 * `format` is `"auto"`, `"libxc"`, `"libxl"` or `"xl"`. The stream is read
 * to its end from the descriptor's current offset (seeking over page data
 * when it is a regular file); the descriptor is not closed.
 *
 * # Safety
 *
 * `format` is NULL or a NUL-terminated string; `report_json` is NULL or
 * points to a writable `char *`, which gets a string to free with
 * `xenmig_free()` or NULL.
 */
int xenmig_verify_fd(int fd, const char *format, char **report_json);

/**
 * Computes the CPUID masks of a pool, as `xen-maskcalc OPTIONS DUMP...`
 * does: returns its exit code (0 masks computed; 1 bad input: a dump that
 * does not parse, fewer than two hosts, hosts of different vendors; 2 a
 * usage error) and sets `*output` to what the tool prints on standard
 * output (the masks in the `--format` asked for, `--diff`, `--plan`, or
 * `--help`), NULL after an error. Warnings and the error message are in
 * `xenmig_last_message()`.
 *
 * `dumps` holds `n_dumps` dump texts, one per host, each in any format the
 * tool reads (detected per dump, or forced by `--input-format`); host
 * `i` is named `dumps[i]` in messages and outputs. `options` are the
 * tool's options as one string, split at whitespace (such as `"--format
 * xl --hide avx512f"`; `""` for none); they name no dump files.
 *
 * # Safety
 *
 * `dumps` is NULL or points to `n_dumps` pointers, each NULL or a
 * NUL-terminated string; `options` is NULL or a NUL-terminated string;
 * `output` is NULL or points to a writable `char *`, which gets a string
 * to free with `xenmig_free()` or NULL.
 */
int xenmig_pool_masks(const char *const *dumps, size_t n_dumps, const char *options, char **output);

/**
 * Converts the legacy (pre-Xen-4.6) save image on `in_fd` into a v2
 * migration stream on `out_fd`, as `convert-legacy-stream -i IN_FD -o
 * OUT_FD OPTIONS` does: writes the same bytes and returns its exit code (0
 * converted; 1 a bad or truncated image; 2 a usage or I/O error, or content
 * that cannot be converted, such as tmem or Remus compression). On success
 * `*report_json` is a JSON object: `schema_version` (1), `width` (32 or
 * 64), `guest_type` (`"pv"` or `"hvm"`), `detected` (whether either was
 * detected rather than given),
 * `pages`, `page_records`, `input_bytes`, and `verbose`, the lines `-v`
 * prints (empty without `-v`); NULL after an error, whose message is in
 * `xenmig_last_message()` (none with `-q`). `--help` and `--version` give
 * their text in `*report_json` with exit code 0.
 *
 * `options` are the tool's options as one string, split at whitespace,
 * such as `"-w 64 -g hvm -f libxl"` or `""`: `-w`, `-g`, `-f`, `-x`,
 * `--skip-qemu`, `-v`, `-q`, with upstream's long names and prefixes
 * (`--guest`); not `-i`/`-o` (the descriptors are), nor `--syslog`. Both
 * descriptors are used from their current offsets and left open; data is
 * written straight through, as with `-o FD` (a non-blocking descriptor is
 * waited for). After a failure the output may hold part of a stream.
 *
 * # Safety
 *
 * `options` is NULL or a NUL-terminated string; `report_json` is NULL or
 * points to a writable `char *`, which gets a string to free with
 * `xenmig_free()` or NULL.
 */
int xenmig_convert_legacy_fd(int in_fd, int out_fd, const char *options, char **report_json);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* XENMIG_H */
