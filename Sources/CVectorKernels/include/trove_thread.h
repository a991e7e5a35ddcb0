#ifndef TROVE_THREAD_H
#define TROVE_THREAD_H

/// Names the calling thread for the kernel, where `top -H` and `perf` read it, cut to the 15
/// bytes Linux keeps. (Foundation's `Thread.name` does not reach the kernel on Linux, and Glibc's
/// `pthread_setname_np` is not visible from Swift.)
void trove_name_current_thread(const char *name);

#endif
