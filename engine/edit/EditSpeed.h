#pragma once
// Internal switches between the fast paths of the v* / z optimisation and the
// straightforward computation they replace. Not hyper-parameters: the results
// agree to float tolerance either way (tests/engine/test_edit_speed.cpp).
// `kme bench edit` and the tests time or compare both; everything else runs
// the defaults. Process-wide. Torch-free.
namespace kme {

// How each Adam step of v* (ROME, r-ROME) / z (MEMIT, EMMET, AlphaEdit) runs
// the model. Only blocks after the edit layer, and only at positions from the
// subject's last token on, depend on the optimised vector.
enum class ValuePath {
    Full,            // every step: the whole model from the token ids (kmeng01/rome compute_v.py)
    LayerPrefix,     // blocks below the edit layer once; every step: blocks from the edit layer, all positions
    PositionPrefix,  // also the positions before each prompt's subject once (their keys/values cached);
                     // every step: blocks after the edit layer, positions from the subject's last token (default)
};

struct EditSpeed {
    ValuePath valuePath = ValuePath::PositionPrefix;
    bool batchRequests = true;  // MEMIT, EMMET, AlphaEdit: every request's z in one batch (false: one at a time)
    bool groupRows = false;     // PositionPrefix: rows of similar width run together, one forward per group
                                // (false: one batch padded to the widest row). Off by default: on GPT-2
                                // small's shape it ran 28% fewer FLOP but 9% slower (kme bench edit)
    int groupCostTokens = 0;    // the fixed cost of a group in tokens (0: from the model's shape; tests force splits)
};

EditSpeed editSpeed();
void setEditSpeed(const EditSpeed& speed);

// Sets the switches for a scope (bench, tests), then restores them.
class ScopedEditSpeed {
public:
    explicit ScopedEditSpeed(const EditSpeed& speed) : saved_(editSpeed()) { setEditSpeed(speed); }
    ~ScopedEditSpeed() { setEditSpeed(saved_); }
    ScopedEditSpeed(const ScopedEditSpeed&) = delete;
    ScopedEditSpeed& operator=(const ScopedEditSpeed&) = delete;

private:
    EditSpeed saved_;
};

const char* valuePathName(ValuePath path);  // "full" | "layer-prefix" | "position-prefix"

// Where the last computeEdit on this thread spent its time (`kme bench edit`);
// computeEdit resets it when it starts. Per thread: concurrent jobs do not mix.
struct EditProfile {
    double valueSeconds = 0;       // the v* / z optimisation (ROME family, MEMIT family)
    double valueForwardFlops = 0;  // its forward passes' FLOP (model + output head); its backward passes
                                   // compute input gradients only: about as many again
    double statsFlops = 0;         // key statistics computed (not loaded): forward passes + second-moment GEMMs
    double statsSeconds = 0;       // ... and the time they took
};
EditProfile lastEditProfile();
void resetEditProfile();
EditProfile& editProfile();  // this thread's, to add to (engine)

}  // namespace kme
