using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// JSON merge patch (RFC 7396): objects merge recursively, a <see langword="null"/> member removes
/// the property, and anything else (arrays included) replaces the target value whole.
/// Inputs are never modified; results are fresh copies.
/// </summary>
internal static class JsonMergePatch
{
    /// <summary>Applies <paramref name="patch"/> to <paramref name="target"/> and returns the result.</summary>
    /// <param name="target">The document to patch; <see langword="null"/> means JSON <c>null</c>.</param>
    /// <param name="patch">The merge patch.</param>
    /// <returns>A new node; <see langword="null"/> when the result is JSON <c>null</c>.</returns>
    /// <exception cref="ArgumentException">An object in <paramref name="target"/> or <paramref name="patch"/> has a duplicate key (JsonNode.Parse accepts them lazily).</exception>
    /// <exception cref="InvalidOperationException">A property name is invalid UTF-8 or a lone surrogate (likewise surfaced lazily).</exception>
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
            return patch?.DeepClone();
        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : new JsonObject();
        MergeInto(result, patchObject);
        return result;
    }

    /// <summary>Applies an object patch to an object document; the common case for device state.</summary>
    /// <param name="target">The document to patch.</param>
    /// <param name="patch">The merge patch.</param>
    /// <returns>A new object.</returns>
    /// <exception cref="ArgumentException">An object in <paramref name="target"/> or <paramref name="patch"/> has a duplicate key (JsonNode.Parse accepts them lazily).</exception>
    /// <exception cref="InvalidOperationException">A property name is invalid UTF-8 or a lone surrogate (likewise surfaced lazily).</exception>
    public static JsonObject Apply(JsonObject target, JsonObject patch)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(patch);
        var result = (JsonObject)target.DeepClone();
        MergeInto(result, patch);
        return result;
    }

    private static void MergeInto(JsonObject target, JsonObject patch)
    {
        foreach (var (name, value) in patch)
        {
            if (value is null)
            {
                target.Remove(name);
            }
            else if (value is JsonObject childPatch)
            {
                if (target[name] is not JsonObject childTarget)
                {
                    childTarget = [];
                    target[name] = childTarget;
                }
                MergeInto(childTarget, childPatch);
            }
            else
            {
                target[name] = value.DeepClone();
            }
        }
    }
}
