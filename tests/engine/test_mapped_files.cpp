// A checkpoint truncated by another process while it is mapped: the read
// faults with SIGBUS; the handler turns that into one line naming the file and
// exit status 1 (run in a forked child so the test process survives).
#include <QtTest>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/io/MappedFiles.h"
#include "engine/io/Safetensors.h"

namespace fs = std::filesystem;

class TestMappedFiles final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

    std::string writeFile(const std::string& name, size_t floats) {
        const std::string path = tmp_.path().toStdString() + "/" + name;
        std::vector<float> values(floats, 1.5f);
        kme::TensorData t{"w", kme::DType::F32, {int64_t(floats)}, values.data(), values.size() * sizeof(float)};
        kme::writeSafetensors(path, {t});
        return path;
    }

private Q_SLOTS:
    void registryFindsTheFile() {
        const std::string path = writeFile("a.safetensors", 1024);
        {
            auto file = kme::SafetensorsFile::open(path);
            const auto* view = file->find("w");
            QVERIFY(view);
            QCOMPARE(kme::mappedFileAt(view->data + 17), fs::absolute(path).string());
            QCOMPARE(kme::mappedFileAt(&path), std::string());
        }
        // Unmapped with the file: no longer registered.
        auto other = kme::SafetensorsFile::open(path);
        QCOMPARE(kme::mappedFileAt(other->find("w")->data), fs::absolute(path).string());
    }

    void truncatedWhileMappedIsOneLineAndExitOne() {
        // 64 pages of floats; the file is then cut to its first page.
        const std::string path = writeFile("b.safetensors", 64 * 4096 / 4);
        auto file = kme::SafetensorsFile::open(path);
        const auto* view = file->find("w");
        QVERIFY(view);
        QVERIFY(::truncate(path.c_str(), 4096) == 0);
        int fds[2];
        QVERIFY(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        QVERIFY(pid >= 0);
        if (pid == 0) {
            ::dup2(fds[1], 2);
            kme::installMappedFileFaultHandler("kme");
            volatile uint8_t sum = 0;
            for (size_t i = 0; i < view->nbytes; i += 512) sum += view->data[i];  // faults past the cut
            ::_exit(sum == 255 ? 3 : 4);  // not reached when the read faults
        }
        ::close(fds[1]);
        std::string err;
        char buf[512];
        for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, size_t(n));
        ::close(fds[0]);
        int status = 0;
        QVERIFY(::waitpid(pid, &status, 0) == pid);
        QVERIFY2(WIFEXITED(status), "the child crashed instead of exiting");
        QCOMPARE(WEXITSTATUS(status), 1);
        QVERIFY2(err.find(fs::absolute(path).string()) != std::string::npos, err.c_str());
        QVERIFY2(err.find("changed or was truncated") != std::string::npos, err.c_str());
        QCOMPARE(std::count(err.begin(), err.end(), '\n'), long(1));
    }
};

QTEST_GUILESS_MAIN(TestMappedFiles)
#include "test_mapped_files.moc"
