/* Replays a fuzz target's corpus (every file in the directories given) as an ordinary test:
 * exit 0 when no input crashed.  Linked with one fuzz_<x>.c. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
            char *buf = NULL;
            size_t len = 0;
            if (al_read_file_at(AT_FDCWD, p, 16u << 20, &buf, &len) < 0)
                continue;
            LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
            free(buf);
            n++;
        }
        closedir(d);
    }
    printf("1..1\nok 1 - replayed %d inputs\n", n);
    return 0;
}
