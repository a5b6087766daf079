/*
 * Reads an xl.cfg fragment from standard input and parses its `cpuid`
 * setting the way xl does (tools/xl/xl_parse.c): a list is handed item by
 * item to libxl_cpuid_parse_config_xend(); a string is split at commas, its
 * first item (`host`) skipped and every other item handed to
 * libxl_cpuid_parse_config(). Exit 0 when libxenlight accepts all of it, 1
 * (saying which item and what libxl returned) when it refuses one, 2 when
 * the fragment is not an xl.cfg with a `cpuid` setting.
 *
 * Built by crates/cli/tests/real_consumers.rs against the installed
 * libxenlight and libxlutil (libxen-dev).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>
#include <libxlutil.h>

int main(void)
{
    static char data[1 << 20];
    size_t length = fread(data, 1, sizeof(data) - 1, stdin);
    if (ferror(stdin) || !feof(stdin)) {
        fprintf(stderr, "xl_cpuid: cannot read the whole of standard input\n");
        return 2;
    }
    XLU_Config *config = xlu_cfg_init(stderr, "<stdin>");
    if (!config || xlu_cfg_readdata(config, data, (int)length)) {
        fprintf(stderr, "xl_cpuid: not an xl.cfg fragment\n");
        return 2;
    }
    libxl_cpuid_policy_list policy = NULL;
    XLU_ConfigList *list;
    const char *value;
    int items = 0;
    if (!xlu_cfg_get_list(config, "cpuid", &list, 0, 1)) {
        for (int i = 0; (value = xlu_cfg_get_listitem(list, i)) != NULL; i++) {
            int rc = libxl_cpuid_parse_config_xend(&policy, value);
            if (rc) {
                fprintf(stderr, "xl_cpuid: libxl_cpuid_parse_config_xend(\"%s\") = %d\n", value, rc);
                return 1;
            }
            items++;
        }
    } else if (!xlu_cfg_get_string(config, "cpuid", &value, 0)) {
        char *copy = strdup(value), *saved = NULL;
        if (!copy)
            return 2;
        /* xl skips the first item unread: it is expected to be `host`. */
        strtok_r(copy, ",", &saved);
        for (char *item = strtok_r(NULL, ",", &saved); item; item = strtok_r(NULL, ",", &saved)) {
            int rc = libxl_cpuid_parse_config(&policy, item);
            if (rc) {
                fprintf(stderr, "xl_cpuid: libxl_cpuid_parse_config(\"%s\") = %d\n", item, rc);
                return 1;
            }
            items++;
        }
        free(copy);
    } else {
        fprintf(stderr, "xl_cpuid: no cpuid setting\n");
        return 2;
    }
    libxl_cpuid_dispose(&policy);
    xlu_cfg_destroy(config);
    printf("%d\n", items);
    return 0;
}
