/* Fuzz harness for the C driver's image parser (nna_check_image), built with
 * -fsanitize=address,undefined by tests/test_reliability.py.
 *
 *   fuzz_check_image BUNDLE   BUNDLE: records of [u32 little-endian length][bytes]
 *
 * Each image is copied into its own malloc'd buffer of exactly its length, so a read past
 * its end is an AddressSanitizer error. Prints one status code per image, one per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nna.h"
#include NNA_MODEL_HEADER

int main(int argc, char **argv) {
    FILE *f;
    unsigned char len_le[4];
    if (argc != 2 || (f = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "usage: fuzz_check_image BUNDLE\n");
        return 2;
    }
    while (fread(len_le, 1, 4, f) == 4) {
        size_t len = (size_t)len_le[0] | (size_t)len_le[1] << 8 | (size_t)len_le[2] << 16 | (size_t)len_le[3] << 24;
        unsigned char *img = malloc(len ? len : 1);
        if (img == NULL || fread(img, 1, len, f) != len) {
            fprintf(stderr, "fuzz_check_image: truncated bundle\n");
            return 2;
        }
        /* zero-length images get a non-NULL, zero-byte-readable pointer */
        printf("%d\n", nna_check_image(&NNA_MODEL, len ? img : img + 1, len));
        free(img);
    }
    fclose(f);
    return 0;
}
