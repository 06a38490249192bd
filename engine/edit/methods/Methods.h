#pragma once
// Engine-internal: the rows of the method table, one per file of this folder
// (Rome.cpp, Memit.cpp, FtL.cpp, RRome.cpp, Emmet.cpp, AlphaEdit.cpp), and what they share. Torch-free.
#include "engine/edit/methods/MethodTable.h"

namespace kme::edit {

const MethodInfo& romeMethod();   // Rome.cpp
const MethodInfo& memitMethod();  // Memit.cpp
const MethodInfo& ftlMethod();    // FtL.cpp
const MethodInfo& graceMethod();  // Grace.cpp
const MethodInfo& ikeMethod();    // Ike.cpp
const MethodInfo& rromeMethod();      // RRome.cpp
const MethodInfo& emmetMethod();      // Emmet.cpp
const MethodInfo& alphaEditMethod();  // AlphaEdit.cpp
const MethodInfo& wiseMethod();       // Wise.cpp
const MethodInfo& knMethod();         // Kn.cpp
const MethodInfo& ftmMethod();        // FtM.cpp
const MethodInfo& mendMethod();       // Mend.cpp
const MethodInfo& knSuppressMethod(); // KnScale.cpp
const MethodInfo& knAmplifyMethod();  // KnScale.cpp

// The methods' computations (engine/edit/Rome.cpp, FineTune.cpp; also
// declared in EditInternal.h).
EditResult computeRome(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeMemit(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeFineTune(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeGrace(Model& model, const EditParams& params, const ProgressFn& progress);  // engine/edit/Grace.cpp
EditResult computeIke(Model& model, const EditParams& params, const ProgressFn& progress);    // engine/edit/Ike.cpp
EditResult computeRRome(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeEmmet(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeAlphaEdit(Model& model, const EditParams& params, const ProgressFn& progress);
EditResult computeWise(Model& model, const EditParams& params, const ProgressFn& progress);  // engine/edit/Wise.cpp
EditResult computeMend(Model& model, const EditParams& params, const ProgressFn& progress);  // engine/edit/Mend.cpp
EditResult computeKn(Model& model, const EditParams& params, const ProgressFn& progress);  // engine/edit/KnEdit.cpp
EditResult computeKnSuppress(Model& model, const EditParams& params, const ProgressFn& progress);  // NeuronScale.cpp
EditResult computeKnAmplify(Model& model, const EditParams& params, const ProgressFn& progress);   // NeuronScale.cpp

// The progress layout of ROME and MEMIT (computeRome / computeMemit's
// Meter): key statistics first (20 units a layer), then `perRequest` units a
// request, then (MEMIT, `writing`) one unit a layer.
void valueOptimizationStage(const EditParams& params, double done, double perRequest, bool writing, EditStage& stage);
// The number of distinct layers (at least 1).
double distinctLayers(const EditParams& params);
// What rows share: MEMIT's progress layout (Memit.cpp; EMMET and AlphaEdit
// run in the same frame), the fine-tuning's layer default and progress
// (FtL.cpp; FT-M is FT-L with another loss).
void memitStage(const EditParams& params, double done, EditStage& stage);
void fineTuneDefaults(EditHparams& h, const std::string& model);
void fineTuneStage(const EditParams& params, double done, EditStage& stage);

}  // namespace kme::edit
