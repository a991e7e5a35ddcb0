// libcurl for Swift: curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot
// call, so each argument type gets a typed wrapper.
#ifndef TROVE_CCURL_SHIM_H
#define TROVE_CCURL_SHIM_H

#include <curl/curl.h>

typedef size_t (*trove_curl_data_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode trove_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode trove_curl_set_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode trove_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode trove_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode trove_curl_set_callback(CURL *handle, CURLoption option, trove_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

typedef int (*trove_curl_progress_callback)(void *context, curl_off_t download_total, curl_off_t downloaded,
                                            curl_off_t upload_total, curl_off_t uploaded);

static inline CURLcode trove_curl_set_progress_callback(CURL *handle, trove_curl_progress_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

typedef int (*trove_curl_seek_callback)(void *context, curl_off_t offset, int origin);

static inline CURLcode trove_curl_set_seek_callback(CURL *handle, trove_curl_seek_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, callback);
}

static inline CURLcode trove_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
