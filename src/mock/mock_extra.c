/*
 * The mock's answers beyond text generation, in the shapes the official
 * SDKs parse: the model list and one model (OpenAI's or Anthropic's
 * shape), moderations, embeddings (floats or base64 of little-endian
 * float32, any "dimensions"), images (b64_json or URLs), and the choice
 * of a tool call with arguments made from the tool's JSON schema.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_internal.h"

#define MODEL_CREATED 1700000000
#define MAX_DIMENSIONS 4096

static const char *const model_ids[] = {
    "mock-model",
    "gpt-4o-mini",
    "gpt-4o",
    "text-embedding-3-small",
    "omni-moderation-latest",
    "claude-sonnet-4-5",
    "claude-3-5-haiku-latest",
};

char *plm__mock_dump(json_t *o, int simulated)
{
    char *s = NULL;

    if (o == NULL)
        return NULL;
    if (simulated && json_is_object(o))
        json_object_set_new(o, "simulated", json_true());
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static json_t *model_object(const char *id, int anthropic)
{
    if (anthropic)
        return json_pack("{s:s, s:s, s:s, s:s}", "type", "model", "id", id,
                         "display_name", id, "created_at",
                         "2023-11-14T22:13:20Z");
    return json_pack("{s:s, s:s, s:i, s:s}", "id", id, "object", "model",
                     "created", MODEL_CREATED, "owned_by", "parallm-mock");
}

/* id NULL: the list; else that model (any id exists in the mock). */
char *plm__mock_models_body(const plm__mock_parsed *p, const char *id,
                            int simulated)
{
    size_t n = sizeof model_ids / sizeof model_ids[0];
    json_t *data, *o;

    if (id != NULL)
        return plm__mock_dump(model_object(id, p->anthropic_shape), simulated);
    data = json_array();
    for (size_t i = 0; data != NULL && i < n; i++)
        json_array_append_new(data,
                              model_object(model_ids[i], p->anthropic_shape));
    if (p->anthropic_shape)
        o = json_pack("{s:o, s:b, s:s, s:s}", "data", data, "has_more", 0,
                      "first_id", model_ids[0], "last_id", model_ids[n - 1]);
    else
        o = json_pack("{s:s, s:o}", "object", "list", "data", data);
    return plm__mock_dump(o, simulated);
}

static const char *const categories[] = {
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
};

static json_t *moderation_result(int flagged)
{
    json_t *cats = json_object(), *scores = json_object();
    json_t *types = json_object();
    size_t n = sizeof categories / sizeof categories[0];

    for (size_t i = 0; cats && scores && types && i < n; i++) {
        int hit = flagged && strcmp(categories[i], "violence") == 0;

        json_object_set_new(cats, categories[i], json_boolean(hit));
        json_object_set_new(scores, categories[i],
                            json_real(hit ? 0.9 : 0.0001));
        json_object_set_new(types, categories[i], json_pack("[s]", "text"));
    }
    return json_pack("{s:b, s:o, s:o, s:o}", "flagged", flagged, "categories",
                     cats, "category_scores", scores,
                     "category_applied_input_types", types);
}

char *plm__mock_moderations_body(const plm__mock_parsed *p, uint64_t seq,
                                 int simulated)
{
    char id[64];
    json_t *results = json_array();
    int n = p->n_inputs > 0 ? p->n_inputs : 1;

    if (n > 4096)
        n = 4096;
    snprintf(id, sizeof id, "modr-mock-%llu", (unsigned long long)seq);
    for (int i = 0; results != NULL && i < n; i++) {
        json_t *in = json_is_array(p->input)
                         ? json_array_get(p->input, (size_t)i)
                         : p->input;
        const char *text = json_string_value(in);
        int flagged;

        if (text == NULL) /* a multimodal part: {"type":"text","text"} */
            text = json_string_value(json_object_get(in, "text"));
        flagged = text != NULL && strstr(text, "[mock flagged]") != NULL;
        json_array_append_new(results, moderation_result(flagged));
    }
    return plm__mock_dump(json_pack("{s:s, s:s, s:o}", "id", id, "model",
                                    p->model ? p->model
                                             : "omni-moderation-latest",
                                    "results", results),
                          simulated);
}

/* A 1x1 PNG: small, and a real image for clients that decode it. */
static const char tiny_png_b64[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
    "WjR9awAAAABJRU5ErkJggg==";

/* gpt-image models (the default) report token usage; DALL-E does not. */
static int image_tokens(const char *model)
{
    return model == NULL || strncmp(model, "gpt-image", 9) == 0 ||
           strncmp(model, "chatgpt-image", 13) == 0;
}

char *plm__mock_images_body(const plm__mock_parsed *p, uint64_t seq,
                            int64_t completion_tokens, int simulated)
{
    json_t *data = json_array(), *o;
    json_int_t pt = p->prompt_tokens;
    json_int_t ct = (json_int_t)completion_tokens * p->n_choices;
    char url[96];

    for (int i = 0; data != NULL && i < p->n_choices; i++) {
        snprintf(url, sizeof url, "https://images.mock.invalid/img-%llu-%d.png",
                 (unsigned long long)seq, i);
        json_array_append_new(data, p->image_url
                                        ? json_pack("{s:s}", "url", url)
                                        : json_pack("{s:s}", "b64_json",
                                                    tiny_png_b64));
    }
    o = json_pack("{s:I, s:o}", "created", (json_int_t)time(NULL), "data",
                  data);
    if (o != NULL && image_tokens(p->model))
        json_object_set_new(o, "usage",
                            json_pack("{s:I, s:{s:i, s:I}, s:I, s:I}",
                                      "input_tokens", pt,
                                      "input_tokens_details", "image_tokens", 0,
                                      "text_tokens", pt, "output_tokens", ct,
                                      "total_tokens", pt + ct));
    return plm__mock_dump(o, simulated);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The vector as base64 of little-endian float32, as OpenAI sends it. */
static json_t *embedding_base64(const float *v, int dims)
{
    size_t n = (size_t)dims * 4, o = 0;
    unsigned char *raw = malloc(n);
    char *out = malloc((n + 2) / 3 * 4 + 1);
    json_t *s = NULL;

    if (raw == NULL || out == NULL)
        goto done;
    for (int i = 0; i < dims; i++) {
        uint32_t bits;

        memcpy(&bits, &v[i], 4);
        for (int k = 0; k < 4; k++)
            raw[(size_t)i * 4 + (size_t)k] = (unsigned char)(bits >> (8 * k));
    }
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)raw[i] << 16;

        w |= i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0;
        w |= i + 2 < n ? raw[i + 2] : 0;
        out[o++] = b64[(w >> 18) & 63];
        out[o++] = b64[(w >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    out[o] = '\0';
    s = json_string(out);
done:
    free(raw);
    free(out);
    return s;
}

static json_t *embedding(const plm__mock_parsed *p, int index, float *v)
{
    json_t *e;

    for (int i = 0; i < p->dimensions; i++)
        v[i] = (float)((index + i) % 7) / 7.0f;
    if (p->embed_base64) {
        e = embedding_base64(v, p->dimensions);
    } else {
        e = json_array();
        for (int i = 0; e != NULL && i < p->dimensions; i++)
            json_array_append_new(e, json_real((double)v[i]));
    }
    return json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", index,
                     "embedding", e);
}

char *plm__mock_embeddings_body(const plm__mock_parsed *p, int simulated)
{
    json_t *data = json_array();
    int n = p->n_inputs > 0 ? p->n_inputs : 1;
    float *v = malloc((size_t)p->dimensions * sizeof(float));
    json_int_t pt = p->prompt_tokens;

    if (n > 4096)
        n = 4096;
    for (int i = 0; data != NULL && v != NULL && i < n; i++)
        json_array_append_new(data, embedding(p, i, v));
    free(v);
    return plm__mock_dump(json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object",
                                    "list", "data", data, "model",
                                    p->model ? p->model : "mock-model", "usage",
                                    "prompt_tokens", pt, "total_tokens", pt),
                          simulated);
}

/* A tool's name: OpenAI chat nests it under "function", Anthropic and
 * the responses API keep it at the top. */
static const char *tool_name(json_t *tool)
{
    json_t *fn = json_object_get(tool, "function");
    json_t *name = json_object_get(fn ? fn : tool, "name");

    return json_string_value(name);
}

static json_t *tool_schema(json_t *tool)
{
    json_t *fn = json_object_get(tool, "function");

    if (fn != NULL)
        return json_object_get(fn, "parameters");
    if (json_object_get(tool, "input_schema") != NULL)
        return json_object_get(tool, "input_schema");
    return json_object_get(tool, "parameters");
}

/* A value of the schema's type for each property. */
static char *schema_args(json_t *schema)
{
    json_t *props = json_object_get(schema, "properties");
    json_t *args = json_object(), *prop;
    const char *k;

    json_object_foreach(props, k, prop)
    {
        const char *t = json_string_value(json_object_get(prop, "type"));
        json_t *val;

        if (t == NULL || strcmp(t, "string") == 0)
            val = json_string("mock");
        else if (strcmp(t, "integer") == 0 || strcmp(t, "number") == 0)
            val = json_integer(1);
        else if (strcmp(t, "boolean") == 0)
            val = json_true();
        else if (strcmp(t, "array") == 0)
            val = json_array();
        else if (strcmp(t, "object") == 0)
            val = json_object();
        else
            val = json_null();
        json_object_set_new(args, k, val);
    }
    return plm__mock_dump(args, 0);
}

/* The tool tool_choice names or requires ("" = the first), NULL when
 * it leaves the choice to the model (or forbids tools). */
static const char *forced_tool(json_t *choice)
{
    const char *s = json_string_value(choice);
    const char *type = json_string_value(json_object_get(choice, "type"));

    if (s != NULL)
        return strcmp(s, "required") == 0 || strcmp(s, "any") == 0 ? "" : NULL;
    if (type == NULL)
        return NULL;
    if (strcmp(type, "any") == 0)
        return "";
    if (strcmp(type, "tool") == 0 || strcmp(type, "function") == 0) {
        const char *name = tool_name(choice);

        return name ? name : "";
    }
    return NULL;
}

int plm__mock_pick_tool(plm__mock_endpoint ep, json_t *body,
                        plm__mock_parsed *p)
{
    json_t *tools = json_object_get(body, "tools"), *choice, *it;
    const char *want;
    size_t i;

    if (ep != PLM__MOCK_EP_CHAT && ep != PLM__MOCK_EP_MESSAGES)
        return 0;
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        return 0;
    choice = json_object_get(body, "tool_choice");
    want = forced_tool(choice);
    if (want == NULL) {
        const char *none = json_string_value(choice);
        const char *type = json_string_value(json_object_get(choice, "type"));

        if ((none && strcmp(none, "none") == 0) ||
            (type && strcmp(type, "none") == 0) || p->user_text == NULL ||
            strstr(p->user_text, "[mock tool_call") == NULL)
            return 0;
        want = "";
    }
    json_array_foreach(tools, i, it)
    {
        const char *name = tool_name(it);

        if (name != NULL && (*want == '\0' || strcmp(name, want) == 0)) {
            p->tool_name = name;
            p->tool_args = schema_args(tool_schema(it));
            return p->tool_args ? 0 : -1;
        }
    }
    return 0;
}
