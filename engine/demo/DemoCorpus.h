#pragma once
// The demo project's corpus generator: turns projects/demo/corpus.json (subjects
// with their attributes, per-relation training templates, biography templates,
// filler text) into training documents. Held-out paraphrase templates are
// never used, so paraphrase accuracy measures generalisation.
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace kme {

struct CorpusRecipe {
    // Relative weights of the document kinds:
    //   fact   one sentence with one attribute of one subject (a training template)
    //   bio    a paragraph with every attribute of one subject, in random order, with pronouns
    //   tag    "NAME attr1 attr2 ..." — the subject followed directly by its attributes
    //   filler plain English with no facts
    std::map<std::string, double> mix = {{"fact", 3}, {"bio", 4}, {"tag", 2}, {"filler", 1}};
    double pronounShare = 0.5;  // in a bio, share of later sentences that use the pronoun
};

struct CorpusDoc {
    std::string kind;  // the document kind
    std::string text;
    // Byte ranges [start, end) of subject mentions (a leading space included).
    std::vector<std::pair<size_t, size_t>> subjectSpans;
};

struct DemoSubject {
    std::string name;
    std::string kind;     // country, city, person, ...
    bool article = false; // mentioned as "the NAME"
    std::string pronoun;  // he | she | it
    std::vector<std::pair<std::string, std::string>> attributes;  // (relation id, object) in file order
};

class DemoCorpus {
public:
    // Reads corpus.json; errors name the file and the field.
    static DemoCorpus load(const std::string& corpusJson);

    CorpusDoc generate(std::mt19937_64& rng, const CorpusRecipe& recipe) const;
    // The recipe corpus.json recommends ("documents": weights, pron_p), or the defaults.
    const CorpusRecipe& defaultRecipe() const { return defaultRecipe_; }
    // Keeps only the subjects named (e.g. those of the fact set). Throws when none is left.
    void restrictSubjects(const std::vector<std::string>& names);
    const std::vector<DemoSubject>& subjects() const { return subjects_; }
    // Words of subject names that are not also words of objects: the BPE
    // trainer sees them rarely, so names stay split into pieces.
    std::vector<std::string> nameOnlyWords() const;

private:
    struct Relation {
        std::vector<std::string> train, bio;
    };
    std::pair<std::string, std::pair<size_t, size_t>> fill(const std::string& tpl, const DemoSubject& s,
                                                           const std::string& object, const std::string* pronoun,
                                                           bool lowerArticle) const;
    CorpusDoc fact(std::mt19937_64& rng) const;
    CorpusDoc bio(std::mt19937_64& rng, const CorpusRecipe& recipe) const;
    CorpusDoc tag(std::mt19937_64& rng) const;
    CorpusDoc filler(std::mt19937_64& rng) const;

    std::vector<DemoSubject> subjects_;
    std::map<std::string, Relation> relations_;
    std::map<std::string, std::vector<std::string>> openers_;   // by subject kind
    std::vector<std::string> connectors_;
    std::map<std::string, std::vector<std::string>> pronouns_;  // he -> {He, he, his}
    std::vector<std::string> filler_;
    CorpusRecipe defaultRecipe_;
};

}  // namespace kme
