// The edit-method table (engine/edit/methods/MethodTable.h, issue 13 item 1):
// every row complete and consistent with the hyper-parameter schema, names
// unique, unknown names a clear error listing the known ones, the three
// methods' properties as their papers and code have them, and computeEdit
// dispatching through the rows (the properties decide, not the method's
// identity).
#include <QtTest>

#include <ATen/ATen.h>

#include <cctype>
#include <set>

#include "engine/core/Error.h"
#include "engine/edit/EditDefaults.h"
#include "engine/edit/EditMethod.h"
#include "engine/edit/EditProblem.h"
#include "engine/edit/HparamSchema.h"
#include "engine/edit/MendEditor.h"
#include "engine/edit/methods/MethodTable.h"
#include "engine/model/Model.h"
#include "engine/model/RandomModel.h"
#include "test_edit_support.h"

using namespace kme;

namespace {

std::string errorOf(const std::function<void()>& f, ErrorKind* kind = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (kind) *kind = e.kind();
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

class TestMethodTable final : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private Q_SLOTS:
    void everyRowIsComplete() {
        QVERIFY(!methodTable().empty());
        for (const MethodInfo& m : methodTable()) {
            const QByteArray what = m.name;
            QVERIFY2(m.name && *m.name, what);
            for (const char* c = m.name; *c; ++c)  // --method, JSON and session names: lower case, digits, '-'
                QVERIFY2(std::islower(static_cast<unsigned char>(*c)) || std::isdigit(static_cast<unsigned char>(*c)) ||
                             *c == '-',
                         what);
            QVERIFY2(m.displayName && *m.displayName, what);
            QVERIFY2(m.summary && *m.summary, what);
            QVERIFY2(m.paper.authors && *m.paper.authors, what);
            QVERIFY2(m.paper.title && *m.paper.title, what);
            QVERIFY2(m.paper.venue && *m.paper.venue, what);
            QVERIFY2(m.paper.year >= 2015 && m.paper.year <= 2035, what);
            QVERIFY2(m.paper.arxiv && m.paper.url && (*m.paper.arxiv || *m.paper.url), what);
            QVERIFY2(m.paper.code && *m.paper.code, what);
            QVERIFY2(contains(paperText(m.paper), m.paper.title), what);
            QVERIFY2(m.defaults && m.stage && m.compute, what);
            // The lookups agree with the row.
            QCOMPARE(&methodInfo(m.method), &m);
            QCOMPARE(findMethod(m.name), &m);
            for (const auto& alias : m.aliases) QCOMPARE(findMethod(alias), &m);
            QCOMPARE(std::string(editMethodName(m.method)), std::string(m.name));
            QCOMPARE(std::string(editMethodDisplayName(m.method)), std::string(m.displayName));
            QVERIFY2(parseEditMethod(m.name) == m.method, what);
            // Names of the families, payloads and shapes are the JSON vocabulary.
            const std::set<std::string> families = {"external_memorization", "global_optimization", "local_modification"};
            QVERIFY2(families.count(familyName(m.family)), what);
            QVERIFY2(std::set<std::string>({"weights", "adapter", "context"}).count(payloadName(m.payload)), what);
            QVERIFY2(std::set<std::string>({"none", "one", "range"}).count(layerShapeName(m.layers)), what);
        }
        QCOMPARE(&defaultMethod(), &methodTable().front());
    }

    void namesAreUnique() {
        std::set<std::string> names, displayNames;
        std::set<int> methods;
        for (const MethodInfo& m : methodTable()) {
            QVERIFY2(names.insert(m.name).second, m.name);
            for (const auto& alias : m.aliases) QVERIFY2(names.insert(alias).second, alias.c_str());
            QVERIFY2(displayNames.insert(m.displayName).second, m.displayName);
            QVERIFY2(methods.insert(int(m.method)).second, m.name);
        }
        // Every family lists each row once.
        size_t listed = 0;
        for (MethodFamily f : methodFamilies())
            for (const MethodInfo* m : methodsOf(f)) {
                QCOMPARE(int(m->family), int(f));
                ++listed;
            }
        QCOMPARE(listed, methodTable().size());
        QCOMPARE(methodFamilies().size(), size_t(3));
    }

    void rowsAgreeWithTheSchema() {
        // Each hyper-parameter key names methods of the table.
        std::set<int> inTable;
        for (const MethodInfo& m : methodTable()) inTable.insert(int(m.method));
        for (const HparamSpec& s : hparamSchema()) {
            QVERIFY2(!s.methods.empty(), s.key.c_str());
            for (EditMethod m : s.methods) QVERIFY2(inTable.count(int(m)), s.key.c_str());
        }
        for (const MethodInfo& m : methodTable()) {
            const QByteArray what = m.name;
            // A method that takes layers has the `layers` key; one that takes none (IKE) has not.
            QVERIFY2(bool(findHparam(m.method, "layers")) == (m.layers != LayerShape::None), what);
            // The step-count key is one of its own, an integer.
            if (*m.stepsKey) {
                const HparamSpec* steps = findHparam(m.method, m.stepsKey);
                QVERIFY2(steps && steps->recorded && steps->type == HparamType::Int, what);
            }
            // Key statistics come with their switch.
            if (m.needsKeyStatistics) QVERIFY2(findHparam(m.method, "mom2_adjustment"), what);
            else QVERIFY2(!findHparam(m.method, "mom2_adjustment"), what);
            // The help lists the method's keys.
            if (m.layers != LayerShape::None) QVERIFY2(contains(hparamsHelpText(m.method, ""), "layers ("), what);
            // Its defaults pass its schema, for a known model and an unknown one.
            for (const std::string model : {"", "gpt2-xl"}) {
                EditHparams h;
                m.defaults(h, model);
                const std::string msg = errorOf([&] { validateHparams(h, m.method, "defaults"); });
                QVERIFY2(msg.empty(), msg.c_str());
                if (model.empty()) QVERIFY2(h.layers.empty(), what);  // no default without a published one
                // WISE has no published GPT-2 XL layer (EasyEdit's gpt2-xl.yaml wraps GPT-2 small's c_fc).
                else if (m.layers == LayerShape::One && m.method != EditMethod::Wise) QCOMPARE(h.layers.size(), size_t(1));
            }
        }
    }

    void theThreeMethodsAsPublished() {
        const MethodInfo& rome = methodByName("rome");
        QCOMPARE(int(rome.family), int(MethodFamily::LocalModification));
        QCOMPARE(int(rome.payload), int(PayloadKind::Weights));
        QCOMPARE(int(rome.layers), int(LayerShape::One));
        QVERIFY(!rome.batched);
        QVERIFY(rome.needsKeyStatistics);
        QCOMPARE(std::string(rome.paper.arxiv), std::string("2202.05262"));
        const MethodInfo& memit = methodByName("MEMIT");
        QCOMPARE(int(memit.method), int(EditMethod::Memit));
        QCOMPARE(int(memit.family), int(MethodFamily::LocalModification));
        QCOMPARE(int(memit.layers), int(LayerShape::Range));
        QVERIFY(memit.batched);
        QVERIFY(memit.needsKeyStatistics);
        QCOMPARE(std::string(memit.paper.arxiv), std::string("2210.07229"));
        const MethodInfo& ft = methodByName("ft");
        QCOMPARE(int(ft.method), int(EditMethod::FtL));
        QCOMPARE(int(ft.family), int(MethodFamily::GlobalOptimization));
        QCOMPARE(int(ft.layers), int(LayerShape::One));
        QVERIFY(!ft.needsKeyStatistics);
        QCOMPARE(std::string(ft.stepsKey), std::string("num_steps"));
        QCOMPARE(methodNames(", ", " or ").rfind("rome, memit, ft-l", 0), size_t(0));
        // The external-memorization family: weights untouched.
        const MethodInfo& grace = methodByName("grace");
        QCOMPARE(int(grace.family), int(MethodFamily::ExternalMemorization));
        QCOMPARE(int(grace.payload), int(PayloadKind::Adapter));
        QCOMPARE(int(grace.layers), int(LayerShape::One));
        QVERIFY(!grace.needsKeyStatistics);
        QCOMPARE(std::string(grace.paper.arxiv), std::string("2211.11031"));
        QCOMPARE(std::string(grace.paper.code), std::string("Thartvigsen/GRACE"));
        const MethodInfo& ike = methodByName("IKE");
        QCOMPARE(int(ike.family), int(MethodFamily::ExternalMemorization));
        QCOMPARE(int(ike.payload), int(PayloadKind::Context));
        QCOMPARE(int(ike.layers), int(LayerShape::None));
        QVERIFY(ike.needsDemonstrations);
        QCOMPARE(std::string(ike.paper.arxiv), std::string("2305.12740"));
        QCOMPARE(methodNames(", ", " or "), std::string("rome, memit, ft-l, ft-m, mend, grace, ike, r-rome, emmet, alphaedit, wise, kn, kn-suppress or kn-amplify"));
        // The per-model defaults moved into the rows unchanged (kmeng01 hparams).
        EditHparams h;
        memit.defaults(h, "gpt2-xl");
        QCOMPARE(h.layers, (std::vector<int>{13, 14, 15, 16, 17}));
        QCOMPARE(h.clampNormFactor, 0.75);
        QCOMPARE(h.mom2UpdateWeight, 20000.0);
        EditHparams r;
        rome.defaults(r, "gpt2-medium");
        QCOMPARE(r.layers, std::vector<int>{8});
        QCOMPARE(r.clampNormFactor, 3.0);
    }

    void unknownNamesAreAClearError() {
        struct Case {
            std::string name;
            std::string quoted;
        };
        const std::vector<Case> cases = {
            {"serac", "'serac'"},  // not (yet) a method
            {"Rome ", "'Rome '"},  // no trimming, no case folding beyond the aliases
            {"", "''"},
            {std::string(5000, 'x'), "(5000 bytes)"},  // quoted, cut: one bounded line
        };
        for (const auto& c : cases) {
            QVERIFY(!findMethod(c.name));
            QVERIFY(!parseEditMethod(c.name));
            ErrorKind kind = ErrorKind::Internal;
            const std::string msg = errorOf([&] { (void)methodByName(c.name); }, &kind);
            QVERIFY2(contains(msg, "unknown edit method"), msg.c_str());
            QVERIFY2(contains(msg, c.quoted), msg.c_str());
            QVERIFY2(contains(msg, "(known: " + methodNames() + ")"), msg.c_str());
            QVERIFY2(contains(msg, "grace, ike"), msg.c_str());
            QVERIFY2(msg.size() < 120 + methodNames().size() && !contains(msg, "\n"), msg.c_str());  // the input is not echoed whole
            QCOMPARE(int(kind), int(ErrorKind::Input));
        }
    }

    void computeEditAsksTheRow() {
        QVERIFY(tmp_.isValid());
        qputenv("KME_CACHE_DIR", QFile::encodeName(tmp_.filePath("cache")));
        const std::string folder = tmp_.filePath("model").toStdString();
        writeRandomModelFolder(folder, edittest::toyConfig(), 3);
        auto m = Model::load(folder);
        {
            // MEND's editor: a fresh one (the identity) in the model folder, where MEND looks by default.
            kme::MendConfig cfg;
            cfg.layers = {2, 3};
            cfg.rank = 8;
            kme::edit::saveMendEditor(kme::edit::newMendEditor(*m, cfg, 1), folder + "/mend-editor.safetensors");
        }
        // Key statistics without a corpus: refused for the methods that need them, not asked of FT-L.
        for (const MethodInfo& row : methodTable()) {
            EditParams p;
            p.method = row.method;
            p.requests = {edittest::request("Tokyo", "Italy")};
            p.hparams = defaultHparams(row.method, m->config());
            if (row.layers != LayerShape::None) p.hparams.layers = {1};
            p.hparams.vNumGradSteps = 2;
            p.hparams.ftSteps = 2;
            p.hparams.graceIters = 2;
            p.hparams.ikeDemonstrations = 0;
            p.hparams.ikePromptReserve = 1;
            const std::string msg = errorOf([&] { (void)computeEdit(*m, p); });
            if (row.needsKeyStatistics) QVERIFY2(contains(msg, "key statistics need a text corpus"), row.name);
            else QVERIFY2(msg.empty(), msg.c_str());
            if (row.layers == LayerShape::None) {
                // A layer given to a method that takes none is refused, naming the method.
                p.hparams.layers = {1};
                const std::string given = errorOf([&] { (void)computeEdit(*m, p); });
                QVERIFY2(contains(given, std::string(row.displayName) + " changes no layer"), given.c_str());
                continue;
            }
            // No layer: the hint follows the layer shape.
            p.hparams.layers.clear();
            const std::string noLayer = errorOf([&] { (void)computeEdit(*m, p); });
            QVERIFY2(contains(noLayer, std::string("no default ") + row.name + " layer"), noLayer.c_str());
            // The engine names the problem and the method; the front end adds the remedy for its layer shape.
            bool caught = false;
            try {
                (void)computeEdit(*m, p);
            } catch (const EditSetupError& e) {
                caught = true;
                QCOMPARE(int(e.problem()), int(EditProblem::NoLayer));
                QCOMPARE(e.method(), std::string(row.name));
            }
            QVERIFY2(caught, row.name);
        }
        // computeEdit is the row's compute after validation: the same delta, byte for byte.
        EditParams p;
        p.method = EditMethod::Rome;
        p.requests = {normalizedRequest(edittest::request("Tokyo", "Italy"))};
        p.hparams = defaultHparams(EditMethod::Rome, m->config());
        p.hparams.layers = {1};
        p.hparams.vNumGradSteps = 3;
        p.hparams.mom2Adjustment = false;
        const EditResult viaEdit = computeEdit(*m, p);
        const EditResult viaRow = methodInfo(EditMethod::Rome).compute(*m, p, {});
        QCOMPARE(viaEdit.delta.parts.size(), viaRow.delta.parts.size());
        QCOMPARE(viaEdit.delta.parts.size(), size_t(1));
        QCOMPARE(viaEdit.delta.parts[0].tensor, viaRow.delta.parts[0].tensor);
        QVERIFY(viaEdit.delta.parts[0].norm() == viaRow.delta.parts[0].norm());
        QVERIFY(viaEdit.delta.parts[0].norm() > 0);
    }
};

QTEST_GUILESS_MAIN(TestMethodTable)
#include "test_method_table.moc"
