/* mktar DIR OUTSIDE: write the malicious tar corpus (tests/tools/tarcorpus.h)
 * into DIR as NAME.tar, and DIR/expected with "NAME<TAB>expected refusal"
 * lines.  OUTSIDE is the absolute directory holding the canary that the
 * escaping entries aim at. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tarcorpus.h"

int main(int argc, char **argv)
{
    if (argc != 3 || argv[2][0] != '/') {
        fprintf(stderr, "usage: mktar DIR /ABSOLUTE/OUTSIDE/DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/expected", argv[1]);
    FILE *exp = fopen(path, "we");
    if (!exp) {
        perror(path);
        return 1;
    }
    for (size_t i = 0; i < sizeof(tc_corpus) / sizeof(tc_corpus[0]); i++) {
        snprintf(path, sizeof path, "%s/%s.tar", argv[1], tc_corpus[i].name);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        tc_corpus[i].build(fd, argv[2]);
        close(fd);
        fprintf(exp, "%s\t%s\n", tc_corpus[i].name, tc_corpus[i].expect);
    }
    return fclose(exp) == 0 ? 0 : 1;
}
