/* Corpus replay: feeds every file of the given directories (or files) to the fuzz target,
 * so that each checked-in corpus runs as an ordinary test under the normal and sanitizer
 * builds.  libFuzzer builds use their own main instead. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(int dirfd, const char *name)
{
    cleanup_free char *buf = NULL;
    size_t len = 0;
    int rc = al_read_file_at(dirfd, name, 64u << 20, &buf, &len);
    if (rc < 0) {
        fprintf(stderr, "replay: %s: %s\n", name, strerror(-rc));
        return -1;
    }
    /* exact-size heap copy so ASan sees overreads */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, buf, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(AT_FDCWD, argv[i]) < 0;
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d)
            return 1;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            bad |= run_file(dirfd(d), de->d_name) < 0;
            n++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", n);
    return bad || n == 0 ? 1 : 0;
}
