#define _GNU_SOURCE
#include "trove_thread.h"

#include <pthread.h>
#include <string.h>

void trove_name_current_thread(const char *name) {
    // pthread_setname_np refuses a longer name outright.
    char cut[16];
    strncpy(cut, name, sizeof cut - 1);
    cut[sizeof cut - 1] = '\0';
    pthread_setname_np(pthread_self(), cut);
}
