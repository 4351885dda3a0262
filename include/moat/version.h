#ifndef MOAT_VERSION_H
#define MOAT_VERSION_H
#define MOAT_VERSION "0.1.0"
#define MOAT_OCI_VERSION "1.2.0"
#endif
