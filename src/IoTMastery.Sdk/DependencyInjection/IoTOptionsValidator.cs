using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.DependencyInjection;

/// <summary>
/// Runs an options class's own <c>Validate()</c> for one named provider, so options bound from configuration meet the same
/// rules as options set in code, and a bad value stops the host at start naming the provider, the option and (when bound
/// from configuration) the section.
/// </summary>
internal sealed class IoTOptionsValidator<TOptions>(string name, string? sectionPath, Action<TOptions> validate) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? optionsName, TOptions options)
    {
        if (!string.Equals(optionsName, name, StringComparison.Ordinal)) return ValidateOptionsResult.Skip;
        try
        {
            validate(options);
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            var option = e.ParamName is { Length: > 0 } p ? $"{typeof(TOptions).Name}.{p}" : typeof(TOptions).Name;
            var where = sectionPath is null ? "" : $" (configuration section '{sectionPath}')";
            return ValidateOptionsResult.Fail($"IoT provider '{name}'{where}: {option} is invalid: {e.Message}");
        }
    }
}
