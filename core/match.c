/* match.c: StructureMatcher after pymatgen (match.h). */
#include "match.h"

#include "tensor.h"

int rp_match(rp_match_result *out, const rp_structure *a, const rp_structure *b, const rp_match_opts *o)
{
    (void)a; (void)b; (void)o;
    out->matched = 0;
    return rp_seterr("match: not implemented yet");
}
