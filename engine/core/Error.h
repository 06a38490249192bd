#pragma once
// Typed errors of the engine. Every error names the file / argument / tensor
// at fault so that a user can act on the message.
#include <stdexcept>
#include <string>

namespace kme {

enum class ErrorKind {
    Io,          // a file cannot be opened, read or written
    Format,      // a file exists but its content is malformed
    Config,      // config.json / hyper-parameters invalid or unsupported
    Tokenizer,   // vocab / merges / tokenizer.json problems
    Input,       // user input: subject not in prompt, prompt too long, bad flag value
    Database,    // SQLite session files
    Cancelled,   // the user stopped a long job
    Internal     // a broken invariant (a bug)
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message)
        : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const { return kind_; }

private:
    ErrorKind kind_;
};

// Shorthands used at I/O and loading boundaries.
[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

// Thrown when a progress callback returned false.
class Cancelled : public Error {
public:
    Cancelled() : Error(ErrorKind::Cancelled, "cancelled") {}
};

// Progress callback of every long job: (done, total) -> false to stop.
}  // namespace kme
