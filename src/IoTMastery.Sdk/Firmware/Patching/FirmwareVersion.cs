using System.Diagnostics.CodeAnalysis;

namespace IoTMastery.Sdk;

/// <summary>
/// A semantic version (SemVer 2.0.0, https://semver.org) with its precedence: major, minor and patch compare
/// numerically (each at most 2^63-1); a pre-release (<c>1.0.0-rc.1</c>) sorts before its release, identifier by identifier (numeric ones
/// numerically and below alphanumeric ones, which compare in ASCII order; more identifiers sort later when all
/// before are equal). Build metadata (<c>+…</c>) is kept in <see cref="ToString"/> but ignored for order and equality.
/// </summary>
/// <remarks>
/// A <see cref="FirmwareRelease.Version"/> need not be a semantic version; such releases can be rolled out, but not used by
/// ordering features (downgrade protection, <see cref="RolloutPlan.MinimumRunningVersion"/>, advisories' ranges), which
/// refuse them with an <see cref="ArgumentException"/> naming the rule.
/// </remarks>
internal sealed class FirmwareVersion : IComparable<FirmwareVersion>, IEquatable<FirmwareVersion>
{
    private readonly string _text;
    private readonly string[] _preRelease;

    private FirmwareVersion(string text, long major, long minor, long patch, string[] preRelease)
    {
        _text = text;
        Major = major;
        Minor = minor;
        Patch = patch;
        _preRelease = preRelease;
    }

    /// <summary>The major version.</summary>
    public long Major { get; }

    /// <summary>The minor version.</summary>
    public long Minor { get; }

    /// <summary>The patch version.</summary>
    public long Patch { get; }

    /// <summary>The pre-release identifiers (<c>rc</c>, <c>1</c> for <c>-rc.1</c>); empty for a release.</summary>
    public IReadOnlyList<string> PreRelease => _preRelease;

    /// <summary>Whether this is a pre-release (has a <c>-</c> part).</summary>
    public bool IsPreRelease => _preRelease.Length > 0;

    /// <summary>Parses a semantic version.</summary>
    /// <exception cref="ArgumentException"><paramref name="text"/> is not a SemVer 2.0.0 version.</exception>
    public static FirmwareVersion Parse(string text, string? parameterName = null) =>
        TryParse(text, out var version) ? version
            : throw new ArgumentException($"'{ErrorText.Escape(text ?? "", 80)}' is not a semantic version (SemVer 2.0.0: MAJOR.MINOR.PATCH[-pre.release][+build], no leading zeros).", parameterName ?? nameof(text));

    /// <summary>Parses a semantic version; <see langword="false"/> when <paramref name="text"/> is not one.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out FirmwareVersion? version)
    {
        version = null;
        // Versions are at most 64 characters in releases; 256 leaves room for advisories' and still bounds the work.
        if (string.IsNullOrEmpty(text) || text.Length > 256)
            return false;
        var rest = text;
        var plus = rest.IndexOf('+');
        if (plus >= 0)
        {
            if (!ValidIdentifiers(rest[(plus + 1)..], numericRule: false))
                return false;
            rest = rest[..plus];
        }
        string[] pre = [];
        var dash = rest.IndexOf('-');
        if (dash >= 0)
        {
            var preText = rest[(dash + 1)..];
            if (!ValidIdentifiers(preText, numericRule: true))
                return false;
            pre = preText.Split('.');
            rest = rest[..dash];
        }
        var core = rest.Split('.');
        if (core.Length != 3 || !core.All(IsNumber) ||
            !long.TryParse(core[0], out var major) || !long.TryParse(core[1], out var minor) || !long.TryParse(core[2], out var patch))
            return false;
        version = new FirmwareVersion(text, major, minor, patch, pre);
        return true;
    }

    /// <inheritdoc />
    public int CompareTo(FirmwareVersion? other)
    {
        if (other is null) return 1;
        var c = Major.CompareTo(other.Major);
        if (c == 0) c = Minor.CompareTo(other.Minor);
        if (c == 0) c = Patch.CompareTo(other.Patch);
        if (c != 0) return c;
        // A release outranks any of its pre-releases.
        if (_preRelease.Length == 0 || other._preRelease.Length == 0)
            return _preRelease.Length == other._preRelease.Length ? 0 : _preRelease.Length == 0 ? 1 : -1;
        for (var i = 0; i < Math.Min(_preRelease.Length, other._preRelease.Length); i++)
        {
            c = CompareIdentifier(_preRelease[i], other._preRelease[i]);
            if (c != 0) return c;
        }
        return _preRelease.Length.CompareTo(other._preRelease.Length);
    }

    /// <summary>Equal precedence (build metadata ignored).</summary>
    public bool Equals(FirmwareVersion? other) => other is not null && CompareTo(other) == 0;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is FirmwareVersion other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Major);
        hash.Add(Minor);
        hash.Add(Patch);
        foreach (var id in _preRelease) hash.Add(id, StringComparer.Ordinal);
        return hash.ToHashCode();
    }

    /// <summary>The version as written, build metadata included.</summary>
    public override string ToString() => _text;

    /// <summary>Precedence less than.</summary>
    public static bool operator <(FirmwareVersion left, FirmwareVersion right) => Comparer<FirmwareVersion>.Default.Compare(left, right) < 0;

    /// <summary>Precedence greater than.</summary>
    public static bool operator >(FirmwareVersion left, FirmwareVersion right) => Comparer<FirmwareVersion>.Default.Compare(left, right) > 0;

    /// <summary>Precedence less than or equal.</summary>
    public static bool operator <=(FirmwareVersion left, FirmwareVersion right) => Comparer<FirmwareVersion>.Default.Compare(left, right) <= 0;

    /// <summary>Precedence greater than or equal.</summary>
    public static bool operator >=(FirmwareVersion left, FirmwareVersion right) => Comparer<FirmwareVersion>.Default.Compare(left, right) >= 0;

    /// <summary>Equal precedence.</summary>
    public static bool operator ==(FirmwareVersion? left, FirmwareVersion? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Different precedence.</summary>
    public static bool operator !=(FirmwareVersion? left, FirmwareVersion? right) => !(left == right);

    private static int CompareIdentifier(string a, string b)
    {
        var aNum = a.All(char.IsAsciiDigit);
        var bNum = b.All(char.IsAsciiDigit);
        // No leading zeros, so the longer number is the larger; equal lengths compare digit by digit.
        if (aNum && bNum) return a.Length != b.Length ? a.Length.CompareTo(b.Length) : Math.Sign(string.CompareOrdinal(a, b));
        if (aNum) return -1;
        if (bNum) return 1;
        return string.CompareOrdinal(a, b) switch { < 0 => -1, > 0 => 1, _ => 0 };
    }

    private static bool IsNumber(string part) =>
        part.Length > 0 && part.All(char.IsAsciiDigit) && (part.Length == 1 || part[0] != '0');

    private static bool ValidIdentifiers(string text, bool numericRule)
    {
        if (text.Length == 0) return false;
        foreach (var id in text.Split('.'))
        {
            if (id.Length == 0 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                return false;
            // Pre-release numeric identifiers must not have leading zeros; build identifiers may.
            if (numericRule && id.All(char.IsAsciiDigit) && id.Length > 1 && id[0] == '0')
                return false;
        }
        return true;
    }
}
