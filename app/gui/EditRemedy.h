#pragma once
// The window's remedies for the engine's edit problems (engine/edit/EditProblem.h):
// the engine names the problem, the window says which control fixes it.
#include <QString>

namespace kme {
class EditSetupError;
}

namespace kme::app {

// "switch off “Key statistics” under Advanced hyper-parameters to use the identity, ..."
QString editRemedy(const kme::EditSetupError& error);

}  // namespace kme::app
