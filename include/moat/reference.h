/* Image references: Docker's grammar (distribution/reference) with its
 * normalisation, as a pure parser (no store access, no I/O).
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port]            (only when the first component
 *                has a "." or ":", is "localhost", or has upper-case letters)
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 hex | "sha384:" 96 hex | "sha512:" 128 hex
 *
 * Normalisation: "busybox" -> "docker.io/library/busybox", "index.docker.io"
 * -> "docker.io"; with moat_ref_default_tag() also ":latest".  A bare 64-hex
 * string is refused as a name (it is an image ID). */
#ifndef MOAT_REFERENCE_H
#define MOAT_REFERENCE_H

#include <stdbool.h>

#include "moat/error.h"

#define MOAT_REF_MAX_NAME 255  /* bytes of domain/path */
#define MOAT_REF_MAX_INPUT 1024

struct moat_ref {
    char *domain; /* "docker.io", "registry.example:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* NULL when none was given */
    char *digest; /* NULL when none was given */
};

/* Docker's ParseNormalizedNamed.  Errors read like Docker's ("invalid reference
 * format", "... must be lowercase", "... cannot specify 64-byte hexadecimal strings"). */
int moat_ref_parse(const char *s, struct moat_ref *ret, moat_error **err);
/* TagNameOnly: a reference with neither tag nor digest gets ":latest". */
void moat_ref_default_tag(struct moat_ref *r);
void moat_ref_clear(struct moat_ref *r);

char *moat_ref_name(const struct moat_ref *r);            /* "docker.io/library/busybox" */
char *moat_ref_string(const struct moat_ref *r);          /* name[:tag][@digest] */
char *moat_ref_familiar_name(const struct moat_ref *r);   /* "busybox", "user/app", "localhost:5000/x" */
char *moat_ref_familiar_string(const struct moat_ref *r); /* familiar name[:tag][@digest] */
/* Familiar form of a full "name:tag" string (as stored); the input if it does not parse. */
char *moat_ref_familiarize(const char *full);

/* Image IDs: "sha256:<64 hex>" or "<64 hex>" is a full ID; 1..64 lowercase hex
 * digits may be a unique prefix. */
bool moat_ref_is_full_id(const char *s);
bool moat_ref_is_id_prefix(const char *s);

#endif
