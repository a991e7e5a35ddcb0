// OpenBLAS for Swift: CBLAS (cblas_sgemm) and openblas_set_num_threads.
#ifndef TROVE_COPENBLAS_SHIM_H
#define TROVE_COPENBLAS_SHIM_H

// Debian's <cblas.h> is an alternative that another BLAS (the reference one, BLIS) can take over;
// <cblas-openblas.h> is always OpenBLAS's, which is what `link "openblas"` links against.
#if __has_include(<cblas-openblas.h>)
#include <cblas-openblas.h>
#else
#include <cblas.h>
#endif

#endif
