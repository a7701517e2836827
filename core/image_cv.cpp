// OpenCV side of core/image.h. Nothing else in qbench includes OpenCV.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

extern "C" {
#include "image.h"
}

// OpenCV's own log lines would land on the terminal (the TUI's screen); failures
// reach callers as statuses and messages instead.
static void quiet(void)
{
    static std::once_flag once;
    std::call_once(once, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
}

// Missing or unreadable file: QB_ERR_IO with the reason; OpenCV's own messages do not say.
static enum qb_status check_readable(const char *path, struct qb_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || access(path, R_OK) != 0)
        return qb_errorf(err, QB_ERR_IO, "%s: %s", path, std::strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return qb_errorf(err, QB_ERR_IO, "%s: is a directory, not an image", path);
    return QB_OK;
}

// Resizes a decoded BGR image into the caller's RGB buffer (new_h rows of new_w * 3).
static enum qb_status resize_into(const cv::Mat &bgr, const char *what, int dst_w, int dst_h,
                                  enum qb_letterbox_mode mode, unsigned char *rgb, struct qb_letterbox *lb,
                                  struct qb_error *err)
{
    struct qb_letterbox g;
    enum qb_status st = qb_letterbox_plan(bgr.cols, bgr.rows, dst_w, dst_h, mode, &g, err);
    if (st != QB_OK) {
        if (err)
            qb_errorf(err, st, "%s: %s", what, std::string(err->msg).c_str());
        return st;
    }
    try {
        cv::Mat out(g.new_h, g.new_w, CV_8UC3, rgb), resized;
        // resizing is per channel, so resize-then-swap equals the one-call path's
        // resize-then-read-swapped
        if (g.new_w != bgr.cols || g.new_h != bgr.rows)
            cv::resize(bgr, resized, cv::Size(g.new_w, g.new_h), 0, 0, cv::INTER_LINEAR);
        else
            resized = bgr;
        cv::cvtColor(resized, out, cv::COLOR_BGR2RGB);
        if (out.data != rgb)
            return qb_errorf(err, QB_ERR_INTERNAL, "%s: OpenCV reallocated the output buffer", what);
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: OpenCV failed: %s", what, ex.what());
    }
    *lb = g;
    return QB_OK;
}

static enum qb_status decode(const char *path, cv::Mat &img, struct qb_error *err)
{
    enum qb_status st = check_readable(path, err);
    if (st != QB_OK)
        return st;
    quiet();
    try {
        img = cv::imread(path, cv::IMREAD_COLOR);
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_PARSE, "%s: cannot decode image: %s", path, ex.what());
    }
    if (img.empty())
        return qb_errorf(err, QB_ERR_PARSE, "%s: cannot decode image (corrupt, truncated or not an image OpenCV reads)",
                         path);
    return QB_OK;
}

extern "C" enum qb_status qb_image_load_resized(const char *path, int dst_w, int dst_h, enum qb_letterbox_mode mode,
                                                unsigned char *rgb, struct qb_letterbox *lb, struct qb_error *err)
{
    cv::Mat img;
    enum qb_status st = decode(path, img, err);
    if (st != QB_OK)
        return st;
    return resize_into(img, path, dst_w, dst_h, mode, rgb, lb, err);
}

extern "C" enum qb_status qb_image_letterbox(const char *path, int dst_w, int dst_h, float *chw,
                                             struct qb_letterbox *lb, struct qb_error *err)
{
    struct qb_letterbox g;
    if (dst_w < 1 || dst_h < 1 || dst_w > 65535 || dst_h > 65535)
        return qb_errorf(err, QB_ERR_USAGE, "%s: input size %dx%d out of range", path, dst_w, dst_h);
    std::vector<unsigned char> rgb;
    try {
        rgb.resize(QB_LETTERBOX_RGB_BYTES(dst_w, dst_h));
    } catch (const std::bad_alloc &) {
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
    }
    enum qb_status st = qb_image_load_resized(path, dst_w, dst_h, QB_LETTERBOX_PREDICT, rgb.data(), &g, err);
    if (st != QB_OK)
        return st;
    qb_letterbox_to_chw(rgb.data(), &g, chw);
    if (lb)
        *lb = g;
    return QB_OK;
}

struct qb_video {
    cv::VideoCapture cap;
    std::string path;
    long next;   // index of the frame the next grab() returns
    long count;
};

// FFmpeg (frame-exact grabbing), else OpenCV's own Motion-JPEG reader; not CAP_ANY,
// whose image-sequence and GStreamer backends misread plain files
static bool reopen(struct qb_video *v)
{
    v->cap.release();
    v->next = 0;
    for (int api : {cv::CAP_FFMPEG, cv::CAP_OPENCV_MJPEG})
        if (v->cap.open(v->path, api) && v->cap.isOpened())
            return true;
    return false;
}

extern "C" enum qb_status qb_video_open(const char *path, struct qb_video **out, struct qb_error *err)
{
    *out = nullptr;
    enum qb_status st = check_readable(path, err);
    if (st != QB_OK)
        return st;
    quiet();
    struct qb_video *v = new (std::nothrow) qb_video();
    if (!v)
        return qb_errorf(err, QB_ERR_NOMEM, "%s: out of memory", path);
    try {
        v->path = path;
        if (!reopen(v)) {
            delete v;
            return qb_errorf(err, QB_ERR_PARSE, "%s: cannot open video (corrupt or a format this OpenCV lacks)",
                             path);
        }
        double n = v->cap.get(cv::CAP_PROP_FRAME_COUNT);
        if (n >= 1 && n < 1e12) {
            v->count = (long)n;
        } else {
            // the container does not say: count, then start again
            while (v->cap.grab())
                v->count++;
            if (!reopen(v)) {
                delete v;
                return qb_errorf(err, QB_ERR_PARSE, "%s: cannot reopen video", path);
            }
        }
    } catch (const cv::Exception &ex) {
        delete v;
        return qb_errorf(err, QB_ERR_PARSE, "%s: cannot open video: %s", path, ex.what());
    }
    *out = v;
    return QB_OK;
}

extern "C" void qb_video_close(struct qb_video *v)
{
    if (!v)
        return;
    try {
        v->cap.release();
    } catch (const cv::Exception &) {
        // nothing to report on close
    }
    delete v;
}

extern "C" const char *qb_video_path(const struct qb_video *v)
{
    return v->path.c_str();
}

extern "C" long qb_video_frame_count(const struct qb_video *v)
{
    return v->count;
}

extern "C" enum qb_status qb_video_read_resized(struct qb_video *v, long frame, int dst_w, int dst_h,
                                                enum qb_letterbox_mode mode, unsigned char *rgb,
                                                struct qb_letterbox *lb, struct qb_error *err)
{
    const char *path = v->path.c_str();
    char what[4200];
    cv::Mat img;

    if (frame < 0)
        return qb_errorf(err, QB_ERR_USAGE, "%s: frame %ld out of range", path, frame);
    std::snprintf(what, sizeof(what), "%s (frame %ld)", path, frame);
    try {
        if (frame < v->next && !reopen(v))
            return qb_errorf(err, QB_ERR_PARSE, "%s: cannot reopen video", what);
        while (v->next < frame) {
            if (!v->cap.grab())
                return qb_errorf(err, QB_ERR_PARSE, "%s: the video ends after %ld frames", what, v->next);
            v->next++;
        }
        bool ok = v->cap.read(img);
        v->next++;
        if (!ok || img.empty())
            return qb_errorf(err, QB_ERR_PARSE, "%s: cannot decode frame (the video has %ld readable frames)", what,
                             v->next - 1);
        if (img.type() != CV_8UC3) {
            cv::Mat conv;
            if (img.type() == CV_8UC1)
                cv::cvtColor(img, conv, cv::COLOR_GRAY2BGR);
            else if (img.type() == CV_8UC4)
                cv::cvtColor(img, conv, cv::COLOR_BGRA2BGR);
            else
                return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: unsupported frame type %d", what, img.type());
            img = conv;
        }
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_PARSE, "%s: cannot decode frame: %s", what, ex.what());
    }
    return resize_into(img, what, dst_w, dst_h, mode, rgb, lb, err);
}

extern "C" int qb_image_available(void)
{
    return 1;
}

extern "C" enum qb_status qb_image_write_rgb(const char *path, const unsigned char *rgb, int w, int h, int quality,
                                             struct qb_error *err)
{
    const char *dot = std::strrchr(path, '.');
    std::string ext = dot ? dot : "";
    for (auto &c : ext)
        c = (char)std::tolower((unsigned char)c);
    std::vector<int> params;
    if (ext == ".jpg" || ext == ".jpeg")
        params = {cv::IMWRITE_JPEG_QUALITY, quality};
    else if (ext != ".png")
        return qb_errorf(err, QB_ERR_USAGE, "%s: unknown image extension (use .jpg or .png)", path);
    try {
        // OpenCV wants BGR; the caller's buffer is left untouched
        cv::Mat src(h, w, CV_8UC3, const_cast<unsigned char *>(rgb)), bgr;
        std::vector<unsigned char> buf;
        cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
        if (!cv::imencode(ext, bgr, buf, params))
            return qb_errorf(err, QB_ERR_IO, "%s: cannot encode image", path);
        std::string tmp = std::string(path) + ".tmp.XXXXXX";
        int fd = mkstemp(&tmp[0]);
        if (fd < 0)
            return qb_errorf(err, QB_ERR_IO, "%s: %s", path, std::strerror(errno));
        FILE *f = fdopen(fd, "wb");
        bool ok = f && std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
        ok = f && std::fclose(f) == 0 && ok;
        if (!f)
            close(fd);
        if (!ok || std::rename(tmp.c_str(), path) != 0) {
            int e = errno;
            unlink(tmp.c_str());
            return qb_errorf(err, QB_ERR_IO, "%s: write failed: %s", path, std::strerror(e));
        }
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: OpenCV failed: %s", path, ex.what());
    }
    return QB_OK;
}

extern "C" enum qb_status qb_video_write_rgb(const char *path, const unsigned char *rgb, int n, int w, int h,
                                             double fps, struct qb_error *err)
{
    try {
        cv::VideoWriter vw;
        if (!vw.open(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, cv::Size(w, h)))
            return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: this OpenCV cannot write Motion-JPEG video", path);
        for (int i = 0; i < n; i++) {
            cv::Mat src(h, w, CV_8UC3, const_cast<unsigned char *>(rgb) + (size_t)i * w * h * 3), bgr;
            cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
            vw.write(bgr);
        }
        vw.release();
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_UNSUPPORTED, "%s: cannot write video: %s", path, ex.what());
    }
    return QB_OK;
}

extern "C" enum qb_status qb_image_letterbox_oracle(const char *path, int dst_w, int dst_h, float *chw,
                                                    struct qb_error *err)
{
    cv::Mat img;
    enum qb_status st = decode(path, img, err);
    if (st != QB_OK)
        return st;
    try {
        const int h = img.rows, w = img.cols;
        const double r = std::min((double)dst_h / h, (double)dst_w / w);
        const int nw = (int)std::nearbyint(w * r), nh = (int)std::nearbyint(h * r);
        const double dw = (dst_w - nw) / 2.0, dh = (dst_h - nh) / 2.0;
        const int top = (int)std::nearbyint(dh - 0.1), bottom = (int)std::nearbyint(dh + 0.1);
        const int left = (int)std::nearbyint(dw - 0.1), right = (int)std::nearbyint(dw + 0.1);
        cv::Mat resized, padded;

        if (nw != w || nh != h)
            cv::resize(img, resized, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
        else
            resized = img;
        cv::copyMakeBorder(resized, padded, top, bottom, left, right, cv::BORDER_CONSTANT,
                           cv::Scalar(114, 114, 114));
        if (padded.cols != dst_w || padded.rows != dst_h)
            return qb_errorf(err, QB_ERR_INTERNAL, "%s: letterbox produced %dx%d, expected %dx%d", path, padded.cols,
                             padded.rows, dst_w, dst_h);
        const size_t plane = (size_t)dst_w * dst_h;
        for (int y = 0; y < dst_h; y++) {
            const unsigned char *row = padded.ptr<unsigned char>(y);
            for (int x = 0; x < dst_w; x++) {
                const size_t o = (size_t)y * dst_w + x;
                chw[o] = row[3 * x + 2] / 255.0f;
                chw[plane + o] = row[3 * x + 1] / 255.0f;
                chw[2 * plane + o] = row[3 * x + 0] / 255.0f;
            }
        }
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: OpenCV failed: %s", path, ex.what());
    }
    return QB_OK;
}
