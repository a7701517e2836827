// OpenCV side of core/image.h. Nothing else in qbench includes OpenCV.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

extern "C" {
#include "image.h"
}

extern "C" enum qb_status qb_image_letterbox(const char *path, int dst_w, int dst_h, float *chw,
                                             struct qb_letterbox *lb, struct qb_error *err)
{
    cv::Mat img;
    try {
        img = cv::imread(path, cv::IMREAD_COLOR);
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_PARSE, "%s: cannot decode image: %s", path, ex.what());
    }
    if (img.empty())
        return qb_errorf(err, QB_ERR_PARSE, "%s: cannot read image (missing, unreadable or not an image)", path);

    try {
        const int h = img.rows, w = img.cols;
        const double r = std::min((double)dst_h / h, (double)dst_w / w);
        // Python's round() is half-to-even, as nearbyint() in the default rounding mode
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
                chw[o] = row[3 * x + 2] / 255.0f;             // R
                chw[plane + o] = row[3 * x + 1] / 255.0f;     // G
                chw[2 * plane + o] = row[3 * x + 0] / 255.0f; // B
            }
        }
        if (lb) {
            lb->src_w = w;
            lb->src_h = h;
            lb->scale = (float)r;
            lb->pad_left = left;
            lb->pad_top = top;
        }
    } catch (const cv::Exception &ex) {
        return qb_errorf(err, QB_ERR_INTERNAL, "%s: OpenCV failed: %s", path, ex.what());
    }
    return QB_OK;
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
