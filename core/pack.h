/* Packed datasets: what evaluation feeds the network, stored once, so that a machine
 * without OpenCV (qbench-gpu) evaluates without reading an image.
 *
 * A pack holds, for every item of a dataset (image file or video frame), the resized
 * 8-bit RGB image before padding (lb.new_h rows of lb.new_w * 3 bytes, as
 * qb_dataset_load() returns it), its struct qb_letterbox, its path, frame and labels
 * (normalised, as the dataset reads them); and for the whole set the model input size,
 * the letterbox mode, class names, the data spec and split, and the items skipped as
 * unreadable while packing (so evaluation counts them as it would from the files).
 * qb_letterbox_to_chw() turns a stored image into exactly the model input that the
 * image files give.
 *
 *     struct qb_pack *p;
 *     if (qb_pack_open("val.qbpack", &p, &err) != QB_OK) ...
 *     const struct qb_pack_info *info = qb_pack_info(p);   // info->dst_w, ->mode ...
 *     unsigned char *rgb = malloc(QB_LETTERBOX_RGB_BYTES(info->dst_w, info->dst_h));
 *     for (size_t i = 0; i < qb_pack_count(p); i++) {
 *         struct qb_pack_record r;
 *         qb_pack_record(p, i, &r);                        // path, lb, labels: in memory
 *         if (qb_pack_read_rgb(p, i, rgb, &err) != QB_OK) ...   // pixels: from the file
 *         qb_letterbox_to_chw(rgb, &r.lb, chw);
 *     }
 *     qb_pack_close(p);
 *
 * Writing: qb_pack_writer_new(), qb_pack_add() / qb_pack_add_skipped() per item in
 * dataset order, qb_pack_writer_finish(). The file is written under a temporary name
 * and renamed into place by finish (fsync'd first): a failed or abandoned pack leaves
 * nothing at the path.
 *
 * File format (version 1; all integers little-endian; offsets from the file start):
 *   preamble, 96 bytes: "QBPACK\r\n", u32 version, u32 0, u64 json_off, u64 json_len,
 *     u64 table_off, u64 n_records, u64 n_labels, u64 strings_len, u32 json_crc,
 *     u32 table_crc, u64 file_size, u32 0 x 3, u32 CRC of the 92 bytes before it;
 *   pixel records, one after the other (raw, or deflated as the header says);
 *   table at table_off: n_records index entries of 80 bytes (u64 offset, u64 item,
 *     i64 frame, u32 stored bytes, u32 crc of them, i32 src_w src_h, f32 scale,
 *     i32 pad_left pad_top new_w new_h, u32 first label, u32 labels, u32 path offset,
 *     u32 path length, u32 0), then n_labels labels of 20 bytes (i32 class, f32 cx cy
 *     w h), then the paths (strings_len bytes, not NUL-terminated);
 *   JSON header at json_off (see pack.c: input size, letterbox, names, data, skipped).
 * CRCs are CRC-32 (zlib's). A reader refuses other versions, and checks sizes, CRCs,
 * and that every stored letterbox is the one qb_letterbox_plan() gives for its size.
 */
#ifndef QB_PACK_H
#define QB_PACK_H

#include <stddef.h>

#include "dataset.h"
#include "image.h"
#include "status.h"

#define QB_PACK_VERSION 1

/* How pixels are stored. NOTE: names are stored in packs; append only. */
enum qb_pack_pixels {
    QB_PACK_PIXELS_RAW = 0,     /* "rgb8": the bytes as they are */
    QB_PACK_PIXELS_DEFLATE = 1, /* "rgb8-sub-deflate": byte minus the one 3 to its left in the row, zlib */
    QB_PACK_PIXELS_COUNT
};

const char *qb_pack_pixels_name(enum qb_pack_pixels p);

/* One packed item. Pointers belong to the reader (or, for qb_pack_add, to the caller). */
struct qb_pack_record {
    size_t item;                  /* position in the source dataset */
    long frame;                   /* -1: an image file */
    const char *path;
    struct qb_letterbox lb;
    const struct qb_label *labels;
    int n_labels;
};

/* An item that could not be read when packing. */
struct qb_pack_skip {
    size_t item;
    long frame;
    const char *path;
    const char *error;            /* why, as qb_dataset_load said */
};

/* What the pack was made for and from. */
struct qb_pack_info {
    int batch, dst_w, dst_h;      /* the model input [batch, 3, dst_h, dst_w] */
    enum qb_letterbox_mode mode;
    enum qb_pack_pixels pixels;
    const char *model;            /* the model it was made with (informative) */
    const char *data, *split;     /* the dataset spec and split, as given to pack */
    const char *const *names;     /* nc names, or NULL when the dataset had none */
    int nc;                       /* 0: unknown */
    int has_labels;               /* qb_dataset_has_labels() of the source */
    size_t items;                 /* dataset items considered: records + skipped */
    const struct qb_pack_skip *skipped;
    size_t n_skipped;
};

/* ---- reading ---- */

struct qb_pack;

/* Opens and checks a pack: QB_ERR_IO when it cannot be read; QB_ERR_PARSE naming the
 * file and what is wrong when it is not a pack, truncated or corrupt; QB_ERR_UNSUPPORTED
 * for a version this qbench does not read. Holds the file open; the index, labels and
 * paths are read into memory. Read-only after opening: every call below may be made
 * from several threads at once. */
enum qb_status qb_pack_open(const char *path, struct qb_pack **out, struct qb_error *err);
/* NULL is a no-op. */
void qb_pack_close(struct qb_pack *p);

const struct qb_pack_info *qb_pack_info(const struct qb_pack *p);
/* Packed images (records), in dataset order (record items increase). */
size_t qb_pack_count(const struct qb_pack *p);
/* Largest class in the labels, -1 when there are none. */
int qb_pack_max_class(const struct qb_pack *p);
/* Record i's description (no file access). */
void qb_pack_record(const struct qb_pack *p, size_t i, struct qb_pack_record *r);
/* Reads record i's pixels into rgb (QB_LETTERBOX_RGB_BYTES(dst_w, dst_h) bytes; it
 * receives lb.new_h rows of lb.new_w * 3 bytes). A short read or a CRC mismatch is
 * QB_ERR_PARSE naming the file and record. */
enum qb_status qb_pack_read_rgb(const struct qb_pack *p, size_t i, unsigned char *rgb, struct qb_error *err);

/* ---- writing ---- */

struct qb_pack_writer;

/* Starts a pack at path (written as path.tmp.XXXXXX until finished). meta gives
 * everything but items and skipped (the writer counts those); the strings are copied. */
enum qb_status qb_pack_writer_new(const char *path, const struct qb_pack_info *meta, struct qb_pack_writer **out,
                                  struct qb_error *err);
/* Appends an item; items must come in increasing r->item order. r->lb must be the one
 * qb_letterbox_plan() gives for the pack's input size and mode. */
enum qb_status qb_pack_add(struct qb_pack_writer *w, const struct qb_pack_record *r, const unsigned char *rgb,
                           struct qb_error *err);
/* Records an item that could not be read. */
enum qb_status qb_pack_add_skipped(struct qb_pack_writer *w, const struct qb_pack_skip *s, struct qb_error *err);
/* Writes index and header, then renames the file into place. items: the dataset items
 * considered (at least every item added). Frees w, whatever the outcome. */
enum qb_status qb_pack_writer_finish(struct qb_pack_writer *w, size_t items, struct qb_error *err);
/* Abandons the pack: removes the temporary file and frees w. NULL is a no-op. */
void qb_pack_writer_abort(struct qb_pack_writer *w);

/* Bytes of pixel data written so far (stored, after compression) and before storing. */
void qb_pack_writer_bytes(const struct qb_pack_writer *w, unsigned long long *stored, unsigned long long *raw);

#endif
