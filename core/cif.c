/* cif.c: reader and writer of the P1 CIF subset pymatgen writes (cif.h).
 * The reader is a line-based state machine over whitespace-separated tokens
 * (single or double quotes group a token, as CIF 1.1 says: a closing quote
 * counts only before whitespace or the end of the line). */
#include "cif.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"

#define MAXTOK 64   /* tokens on one line */
#define MAXTAGS 16  /* tags in one loop */

typedef struct {
    const char *p;
    int len;
} tok;

/* Split one line into tokens; -1 + error on an unterminated quote or too
 * many tokens. A token starting with '#' ends the line (a comment). */
static int tokenize(const char *s, int n, tok *t, int *nt, int line)
{
    int i = 0, k = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) break;
        if (s[i] == '#') break;
        if (k == MAXTOK) return rp_seterr("read_cif: line %d: more than %d values on one line", line, MAXTOK);
        if (s[i] == '\'' || s[i] == '"') {
            char q = s[i];
            int j = i + 1;
            while (j < n && !(s[j] == q && (j + 1 == n || s[j + 1] == ' ' || s[j + 1] == '\t'))) j++;
            if (j >= n) return rp_seterr("read_cif: line %d: unterminated quoted value", line);
            t[k].p = s + i + 1;
            t[k].len = j - i - 1;
            k++;
            i = j + 1;
        } else {
            int j = i;
            while (j < n && s[j] != ' ' && s[j] != '\t') j++;
            t[k].p = s + i;
            t[k].len = j - i;
            k++;
            i = j;
        }
    }
    *nt = k;
    return 0;
}

static int tok_is(tok t, const char *s) { return (int)strlen(s) == t.len && memcmp(t.p, s, (size_t)t.len) == 0; }

/* Case-insensitive prefix / equality (CIF tags are case-insensitive). */
static int tok_ieq(tok t, const char *s)
{
    if ((int)strlen(s) != t.len) return 0;
    for (int i = 0; i < t.len; i++)
        if (tolower((unsigned char)t.p[i]) != tolower((unsigned char)s[i])) return 0;
    return 1;
}
static int tok_iprefix(tok t, const char *s)
{
    int n = (int)strlen(s);
    if (t.len < n) return 0;
    for (int i = 0; i < n; i++)
        if (tolower((unsigned char)t.p[i]) != tolower((unsigned char)s[i])) return 0;
    return 1;
}

/* A short printable copy of a token for error messages. */
static const char *show(tok t, char *buf, size_t cap)
{
    size_t n = (size_t)t.len < cap - 4 ? (size_t)t.len : cap - 4;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t.p[i];
        buf[o++] = (c >= 32 && c < 127) ? (char)c : '?';
    }
    if (n < (size_t)t.len) { buf[o++] = '.'; buf[o++] = '.'; buf[o++] = '.'; }
    buf[o] = 0;
    return buf;
}

/* A number with an optional esd "(digits)" suffix; only [0-9+-.eE]. */
static int parse_num(double *v, tok t, int line, const char *what)
{
    char buf[64], sb[48];
    int n = t.len;
    if (n > 0 && t.p[n - 1] == ')') {
        int j = n - 2;
        while (j >= 0 && isdigit((unsigned char)t.p[j])) j--;
        if (j >= 0 && t.p[j] == '(' && j < n - 2) n = j;
    }
    if (n < 1 || n >= (int)sizeof buf) goto bad;
    for (int i = 0; i < n; i++) {
        char c = t.p[i];
        if (!(isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E')) goto bad;
        buf[i] = c;
    }
    buf[n] = 0;
    char *end;
    *v = strtod(buf, &end);
    if (end != buf + n || !isfinite(*v)) goto bad;
    return 0;
bad:
    return rp_seterr("read_cif: line %d: %s: '%s' is not a number", line, what, show(t, sb, sizeof sb));
}

enum { A, B, C, ALPHA, BETA, GAMMA };
static const char *const cell_tags[6] = {"_cell_length_a", "_cell_length_b", "_cell_length_c",
                                         "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"};
/* accepted and ignored: what pymatgen writes for information */
static const char *const info_tags[] = {"_chemical_formula_structural", "_chemical_formula_sum",
                                        "_cell_volume", "_cell_formula_units_Z", "_chemical_name_systematic",
                                        "_chemical_name_common", NULL};

enum { L_TYPE, L_LABEL, L_MULT, L_FX, L_FY, L_FZ, L_OCC, L_NATOM };
static const char *const atom_tags[L_NATOM] = {"_atom_site_type_symbol", "_atom_site_label",
                                               "_atom_site_symmetry_multiplicity", "_atom_site_fract_x",
                                               "_atom_site_fract_y", "_atom_site_fract_z", "_atom_site_occupancy"};
static const char *const sym_tags[] = {"_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz",
                                       "_space_group_symop_id", "_space_group_symop_operation_xyz", NULL};

typedef struct {
    double cell[6];
    int have_cell[6];
    int seen_data, seen_atoms, seen_sym, seen_sg_name, seen_sg_num;
    /* current loop */
    int in_loop;      /* 0 none, 1 reading tags, 2 reading values */
    int loop_kind;    /* 1 symmetry, 2 atoms */
    int loop_line;
    int ntags;
    int col[MAXTAGS]; /* atom loop: which field each column is (-1 other); symmetry: 1 = xyz */
    int have[L_NATOM];
    tok row[MAXTAGS];
    int row_line;
    int nrow;         /* values of the current row so far */
    /* atoms */
    int n, cap;
    double *frac;
    int32_t *z;
    /* a tag waiting for its value on the next line */
    tok pending;
    int pending_line;
} cif_state;

static int is_identity_op(tok t)
{
    char buf[32];
    int o = 0;
    for (int i = 0; i < t.len; i++) {
        char c = (char)tolower((unsigned char)t.p[i]);
        if (c == ' ' || c == '+') continue;
        if (o == (int)sizeof buf - 1) return 0;
        buf[o++] = c;
    }
    buf[o] = 0;
    return strcmp(buf, "x,y,z") == 0;
}

static int element_of(tok t, int from_label)
{
    if (from_label) { /* pymatgen labels: symbol + index (Ba0); take the leading letters */
        int n = 0;
        if (t.len > 0 && isupper((unsigned char)t.p[0])) {
            n = 1;
            if (t.len > 1 && islower((unsigned char)t.p[1])) n = 2;
        }
        int z = n ? rp_element_z(t.p, n) : 0;
        if (!z && n == 2) z = rp_element_z(t.p, 1);
        return z;
    }
    return rp_element_z(t.p, t.len);
}

static int finish_row(cif_state *st)
{
    char sb[48];
    int line = st->row_line;
    if (st->loop_kind == 1) {
        for (int c = 0; c < st->ntags; c++)
            if (st->col[c] == 1 && !is_identity_op(st->row[c]))
                return rp_seterr("read_cif: line %d: symmetry operation '%s' (only the identity 'x, y, z' "
                                 "of space group P 1 is supported)", line, show(st->row[c], sb, sizeof sb));
        return 0;
    }
    double f[3] = {0, 0, 0};
    int z = 0;
    for (int c = 0; c < st->ntags; c++) {
        tok t = st->row[c];
        double v;
        switch (st->col[c]) {
        case L_TYPE:
            z = element_of(t, 0);
            if (!z)
                return rp_seterr("read_cif: line %d: '%s' is not an element symbol (oxidation states and "
                                 "other decorations are not supported)", line, show(t, sb, sizeof sb));
            break;
        case L_LABEL:
            if (!st->have[L_TYPE]) {
                z = element_of(t, 1);
                if (!z) return rp_seterr("read_cif: line %d: label '%s' does not start with an element symbol",
                                         line, show(t, sb, sizeof sb));
            }
            break;
        case L_MULT:
            if (!tok_is(t, "1"))
                return rp_seterr("read_cif: line %d: site multiplicity '%s' (only 1, the P1 subset, is supported)",
                                 line, show(t, sb, sizeof sb));
            break;
        case L_FX: case L_FY: case L_FZ:
            if (parse_num(&v, t, line, atom_tags[st->col[c]])) return -1;
            if (fabs(v) > 1e6)
                return rp_seterr("read_cif: line %d: fractional coordinate %g is out of range", line, v);
            f[st->col[c] - L_FX] = v;
            break;
        case L_OCC:
            if (parse_num(&v, t, line, "_atom_site_occupancy")) return -1;
            if (fabs(v - 1) > 1e-6)
                return rp_seterr("read_cif: line %d: occupancy %g (only fully occupied sites are supported)", line, v);
            break;
        default: break;
        }
    }
    if (st->n == RP_CRYSTAL_MAXATOMS)
        return rp_seterr("read_cif: line %d: more than %d atoms", line, RP_CRYSTAL_MAXATOMS);
    if (st->n == st->cap) {
        int nc = st->cap ? 2 * st->cap : 16;
        double *nf = realloc(st->frac, sizeof(double) * 3 * (size_t)nc);
        if (nf) st->frac = nf;
        int32_t *nz = realloc(st->z, sizeof(int32_t) * (size_t)nc);
        if (nz) st->z = nz;
        if (!nf || !nz) return rp_seterr("read_cif: out of memory");
        st->cap = nc;
    }
    memcpy(st->frac + 3 * st->n, f, sizeof f);
    st->z[st->n++] = z;
    return 0;
}

/* Close the current loop (at a line that starts something else or at EOF). */
static int end_loop(cif_state *st, int line)
{
    if (!st->in_loop) return 0;
    if (st->in_loop == 1)
        return rp_seterr("read_cif: line %d: the loop_ of line %d has tags but no values", line, st->loop_line);
    if (st->nrow)
        return rp_seterr("read_cif: line %d: the last row of the loop has %d of its %d values", st->row_line,
                         st->nrow, st->ntags);
    st->in_loop = 0;
    return 0;
}

static int start_loop_values(cif_state *st, int line)
{
    if (st->ntags == 0) return rp_seterr("read_cif: line %d: the loop_ of line %d has no tags", line, st->loop_line);
    /* classify the loop from its tags */
    for (int c = 0; c < st->ntags; c++) {
        tok t = st->row[c]; /* tags were stored in row[] while reading them */
        int k = -1;
        if (st->loop_kind == 2) {
            for (int f = 0; f < L_NATOM; f++)
                if (tok_ieq(t, atom_tags[f])) k = f;
            if (k >= 0) {
                if (st->have[k]) return rp_seterr("read_cif: line %d: tag %s twice in one loop", line, atom_tags[k]);
                st->have[k] = 1;
            }
        } else {
            k = (tok_ieq(t, "_symmetry_equiv_pos_as_xyz") || tok_ieq(t, "_space_group_symop_operation_xyz")) ? 1 : 0;
        }
        st->col[c] = k;
    }
    if (st->loop_kind == 2) {
        if (!st->have[L_FX] || !st->have[L_FY] || !st->have[L_FZ])
            return rp_seterr("read_cif: line %d: the atom-site loop needs _atom_site_fract_x, _y and _z "
                             "(Cartesian coordinates are not supported)", st->loop_line);
        if (!st->have[L_TYPE] && !st->have[L_LABEL])
            return rp_seterr("read_cif: line %d: the atom-site loop needs _atom_site_type_symbol or _atom_site_label",
                             st->loop_line);
    }
    st->in_loop = 2;
    st->nrow = 0;
    return 0;
}

static int loop_tag(cif_state *st, tok t, int line)
{
    char sb[48];
    int kind = 0;
    if (tok_iprefix(t, "_atom_site_")) {
        kind = 2;
        int known = 0;
        for (int f = 0; f < L_NATOM; f++) known |= tok_ieq(t, atom_tags[f]);
        if (!known)
            return rp_seterr("read_cif: line %d: unsupported atom-site tag '%s' (the P1 subset has type_symbol, "
                             "label, symmetry_multiplicity, fract_x/y/z, occupancy)", line, show(t, sb, sizeof sb));
    } else {
        for (int i = 0; sym_tags[i]; i++)
            if (tok_ieq(t, sym_tags[i])) kind = 1;
    }
    if (!kind) return rp_seterr("read_cif: line %d: unsupported loop tag '%s'", line, show(t, sb, sizeof sb));
    if (st->ntags == 0) {
        if (kind == 2 && st->seen_atoms) return rp_seterr("read_cif: line %d: a second atom-site loop", line);
        if (kind == 1 && st->seen_sym) return rp_seterr("read_cif: line %d: a second symmetry loop", line);
        st->loop_kind = kind;
        if (kind == 2) st->seen_atoms = 1; else st->seen_sym = 1;
    } else if (kind != st->loop_kind) {
        return rp_seterr("read_cif: line %d: tag '%s' mixes two categories in one loop", line, show(t, sb, sizeof sb));
    }
    if (st->ntags == MAXTAGS) return rp_seterr("read_cif: line %d: more than %d tags in one loop", line, MAXTAGS);
    st->row[st->ntags++] = t;
    return 0;
}

static int single_tag(cif_state *st, tok tag, tok val, int line)
{
    char sb[48], sv[48];
    for (int k = 0; k < 6; k++)
        if (tok_ieq(tag, cell_tags[k])) {
            if (st->have_cell[k]) return rp_seterr("read_cif: line %d: %s given twice", line, cell_tags[k]);
            if (parse_num(&st->cell[k], val, line, cell_tags[k])) return -1;
            st->have_cell[k] = 1;
            return 0;
        }
    if (tok_ieq(tag, "_symmetry_space_group_name_H-M") || tok_ieq(tag, "_space_group_name_H-M_alt")) {
        if (!(tok_is(val, "P 1") || tok_is(val, "P1")))
            return rp_seterr("read_cif: line %d: space group '%s' (only P 1 is supported: write the structure "
                             "in P1)", line, show(val, sv, sizeof sv));
        st->seen_sg_name = 1;
        return 0;
    }
    if (tok_ieq(tag, "_symmetry_Int_Tables_number") || tok_ieq(tag, "_space_group_IT_number")) {
        if (!tok_is(val, "1"))
            return rp_seterr("read_cif: line %d: space group number '%s' (only 1, P 1, is supported)", line,
                             show(val, sv, sizeof sv));
        st->seen_sg_num = 1;
        return 0;
    }
    for (int i = 0; info_tags[i]; i++)
        if (tok_ieq(tag, info_tags[i])) return 0;
    return rp_seterr("read_cif: line %d: unsupported tag '%s'", line, show(tag, sb, sizeof sb));
}

static int process_line(cif_state *st, tok *t, int nt, int line)
{
    char sb[48];
    if (nt == 0) return 0;
    if (st->pending.p) { /* the value of a tag given alone on the previous line */
        if (nt != 1) return rp_seterr("read_cif: line %d: expected one value for the tag of line %d, got %d",
                                      line, st->pending_line, nt);
        tok tag = st->pending;
        st->pending.p = NULL;
        return single_tag(st, tag, t[0], line);
    }
    int keyword = t[0].len > 0 && (t[0].p[0] == '_' || tok_iprefix(t[0], "loop_") || tok_iprefix(t[0], "data_") ||
                                   tok_iprefix(t[0], "save_") || tok_iprefix(t[0], "global_"));
    if (st->in_loop == 1) {
        if (t[0].len > 0 && t[0].p[0] == '_') {
            if (nt != 1) return rp_seterr("read_cif: line %d: one tag per line in a loop header", line);
            return loop_tag(st, t[0], line);
        }
        if (keyword)
            return rp_seterr("read_cif: line %d: the loop_ of line %d has tags but no values", line, st->loop_line);
        if (start_loop_values(st, line)) return -1;
    }
    if (st->in_loop == 2 && !keyword) {
        for (int i = 0; i < nt; i++) {
            if (st->nrow == 0) st->row_line = line;
            st->row[st->nrow++] = t[i];
            if (st->nrow == st->ntags) {
                if (finish_row(st)) return -1;
                st->nrow = 0;
            }
        }
        /* rows split over lines keep pointers into earlier lines: fine, the
         * text outlives the parse */
        return 0;
    }
    if (end_loop(st, line)) return -1;
    if (tok_iprefix(t[0], "data_")) {
        if (nt != 1) return rp_seterr("read_cif: line %d: unexpected values after %s", line, show(t[0], sb, sizeof sb));
        if (st->seen_data) return rp_seterr("read_cif: line %d: a second data block (one structure per text)", line);
        st->seen_data = 1;
        return 0;
    }
    if (!st->seen_data)
        return rp_seterr("read_cif: line %d: '%s' before the data_ line", line, show(t[0], sb, sizeof sb));
    if (tok_ieq(t[0], "loop_")) {
        if (nt != 1) return rp_seterr("read_cif: line %d: loop_ must stand alone on its line", line);
        st->in_loop = 1;
        st->loop_line = line;
        st->ntags = 0;
        st->loop_kind = 0;
        memset(st->have, 0, sizeof st->have);
        return 0;
    }
    if (t[0].len > 0 && t[0].p[0] == '_') {
        if (nt == 1) {
            st->pending = t[0];
            st->pending_line = line;
            return 0;
        }
        if (nt != 2) return rp_seterr("read_cif: line %d: tag '%s' needs exactly one value, got %d", line,
                                      show(t[0], sb, sizeof sb), nt - 1);
        return single_tag(st, t[0], t[1], line);
    }
    return rp_seterr("read_cif: line %d: unexpected '%s'", line, show(t[0], sb, sizeof sb));
}

rp_structure *rp_read_cif(const char *text, size_t len)
{
    cif_state st;
    memset(&st, 0, sizeof st);
    rp_structure *s = NULL;
    size_t i = 0;
    int line = 0, err = 0;
    tok t[MAXTOK];
    /* a semicolon text field starts with ';' in column 1 */
    while (i < len && !err) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        line++;
        size_t e = j;
        if (e > i && text[e - 1] == '\r') e--;
        if (e - i > 1 << 20) { err = rp_seterr("read_cif: line %d: longer than 1 MiB", line); break; }
        for (size_t k = i; k < e; k++)
            if (text[k] == '\0') { err = rp_seterr("read_cif: line %d: a NUL byte", line); break; }
        if (err) break;
        if (e > i && text[i] == ';') {
            err = rp_seterr("read_cif: line %d: semicolon text fields are not supported", line);
            break;
        }
        int nt = 0;
        if (tokenize(text + i, (int)(e - i), t, &nt, line) || process_line(&st, t, nt, line)) err = -1;
        i = j + 1;
    }
    if (err) goto done;
    line++;
    if (st.pending.p) {
        char sb[48];
        rp_seterr("read_cif: line %d: tag '%s' has no value", st.pending_line, show(st.pending, sb, sizeof sb));
        goto done;
    }
    if (st.in_loop == 1 && start_loop_values(&st, line)) goto done;
    if (end_loop(&st, line)) goto done;
    if (!st.seen_data) { rp_seterr("read_cif: no data_ block"); goto done; }
    for (int k = 0; k < 6; k++)
        if (!st.have_cell[k]) { rp_seterr("read_cif: %s is missing", cell_tags[k]); goto done; }
    if (!st.seen_atoms || st.n == 0) { rp_seterr("read_cif: no atoms (an _atom_site_ loop with at least one row)"); goto done; }
    double lat[9];
    if (rp_lattice_from_params(lat, st.cell)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", rp_errmsg());
        rp_seterr("read_cif: cell %g %g %g %g %g %g: %s", st.cell[0], st.cell[1], st.cell[2], st.cell[3],
                  st.cell[4], st.cell[5], msg);
        goto done;
    }
    s = rp_structure_new(lat, st.n, st.frac, st.z);
    if (!s) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", rp_errmsg());
        rp_seterr("read_cif: %s", msg);
    }
done:
    free(st.frac);
    free(st.z);
    return s;
}

/* ---- writer ---------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t nc = 2 * b->cap + (size_t)k + 64;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
}

/* a value pymatgen would quote (contains spaces) gets single quotes */
static void put_kv(sbuf *b, const char *k, const char *v)
{
    if (strchr(v, ' ')) put(b, "%s   '%s'\n", k, v);
    else put(b, "%s   %s\n", k, v);
}

int rp_write_cif(char **out, size_t *len, const rp_structure *s, const char *data_name,
                 const char *formula_structural, const char *formula_sum, int formula_units)
{
    *out = NULL;
    *len = 0;
    if (!data_name || !*data_name) data_name = "structure";
    for (const char *c = data_name; *c; c++)
        if (isspace((unsigned char)*c) || !isprint((unsigned char)*c))
            return rp_seterr("to_cif: the data block name '%s' has a space or unprintable character", data_name);
    sbuf b = {malloc(1024), 0, 1024, 0};
    if (!b.p) return rp_seterr("to_cif: out of memory");
    double p[6];
    rp_lattice_params(p, s->lattice);
    put(&b, "# generated using repro\ndata_%s\n", data_name);
    put(&b, "_symmetry_space_group_name_H-M   'P 1'\n");
    put(&b, "_cell_length_a   %.8f\n_cell_length_b   %.8f\n_cell_length_c   %.8f\n", p[0], p[1], p[2]);
    put(&b, "_cell_angle_alpha   %.8f\n_cell_angle_beta   %.8f\n_cell_angle_gamma   %.8f\n", p[3], p[4], p[5]);
    put(&b, "_symmetry_Int_Tables_number   1\n");
    if (formula_structural) put_kv(&b, "_chemical_formula_structural", formula_structural);
    if (formula_sum) put_kv(&b, "_chemical_formula_sum", formula_sum);
    put(&b, "_cell_volume   %.8f\n", rp_lattice_volume(s->lattice));
    if (formula_units > 0) put(&b, "_cell_formula_units_Z   %d\n", formula_units);
    put(&b, "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'\n");
    put(&b, "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n"
            " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n");
    for (int i = 0; i < s->n; i++) {
        const char *sym = rp_element_symbol(s->z[i]);
        put(&b, "  %s  %s%d  1  %.8f  %.8f  %.8f  1\n", sym, sym, i, s->frac[3 * i], s->frac[3 * i + 1],
            s->frac[3 * i + 2]);
    }
    if (b.oom) { free(b.p); return rp_seterr("to_cif: out of memory"); }
    *out = b.p;
    *len = b.n;
    return 0;
}
