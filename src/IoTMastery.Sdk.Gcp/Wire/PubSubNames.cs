using System.Text.RegularExpressions;

namespace IoTMastery.Sdk.Gcp;

/// <summary>Checks project, topic and subscription ids before any call (pubsub.proto naming rules).</summary>
internal static partial class PubSubNames
{
    public static void ValidateProject(string? projectId, string parameterName = "projectId")
    {
        ArgumentException.ThrowIfNullOrEmpty(projectId, parameterName);
        if (!ProjectPattern().IsMatch(projectId))
            throw new ArgumentException($"Project id '{ErrorText.Escape(projectId)}' must be 1-100 characters of a-z A-Z 0-9 - . : (no '/').", parameterName);
    }

    /// <summary>Topic and subscription ids: 3-255 characters, a letter first, then A-Z a-z 0-9 - _ . ~ + %, not starting with <c>goog</c>.</summary>
    public static void ValidateResourceId(string? id, string kind, string parameterName)
    {
        ArgumentException.ThrowIfNullOrEmpty(id, parameterName);
        if (id.Length is < 3 or > 255 || !ResourcePattern().IsMatch(id) || id.StartsWith("goog", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{kind} id '{(id.Length > 64 ? id[..64] + "…" : id)}' must be 3-255 characters, start with a letter, use only A-Z a-z 0-9 - _ . ~ + % and not start with 'goog'.", parameterName);
    }

    public static string Topic(string project, string topic) => $"projects/{project}/topics/{topic}";

    public static string Subscription(string project, string subscription) => $"projects/{project}/subscriptions/{subscription}";

    // URL paths escape each id as one segment ('%' and '+' are allowed in ids; raw, "t%41" would reach the server as "tA").
    // Resource names in request bodies (a subscription's "topic") stay unescaped, as the official clients send them.

    /// <summary>A topic's URL path, <c>v1/projects/{project}/topics/{topic}</c>, with each id escaped.</summary>
    public static string TopicUrl(string project, string topic) => $"v1/projects/{GoogleRestClient.Escape(project)}/topics/{GoogleRestClient.Escape(topic)}";

    /// <summary>A subscription's URL path, <c>v1/projects/{project}/subscriptions/{subscription}</c>, with each id escaped.</summary>
    public static string SubscriptionUrl(string project, string subscription) => $"v1/projects/{GoogleRestClient.Escape(project)}/subscriptions/{GoogleRestClient.Escape(subscription)}";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9.:-]{0,99}$")]
    private static partial Regex ProjectPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9\\-_.~+%]*$")]
    private static partial Regex ResourcePattern();
}
