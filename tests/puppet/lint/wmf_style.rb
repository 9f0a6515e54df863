# frozen_string_literal: true

# A puppet-lint check for Wikimedia's Puppet style (roles, profiles and
# modules), written for this repository: there are no rubygems here, so
# the `wmf_styleguide` plugin that operations/puppet's CI runs cannot be
# installed. The rules are those of that plugin (its checks as of its 1.1
# release, 2021) and of the style guide it enforces; each problem names the
# rule, so it can be looked up there.
#
#   profile classes  every parameter's default is a lookup(); lookup()
#                    nowhere else; each looked-up key is the profile's own
#                    (`<class>::<param>`); include only profiles (and
#                    `passwords`, `lvs::configuration`, `network::constants`)
#   role classes     no parameters; no lookup(); include only roles and
#                    profiles; declare no resources
#   other classes    no lookup(); include or declare no class of another
#   and defines      module (a define in the profile module may declare)
#   everywhere       no hiera(), hiera_array(), hiera_hash(), no stdlib
#                    validate_*() functions, no base::service_unit
#
# Not checked: node definitions (there are none here) and the plugin's
# `system::role` rule (Wikimedia's own define, which does not exist
# outside operations/puppet).
#
# Run through tests/puppet/lint.rb, which loads it into puppet-lint.
PuppetLint.new_check(:wmf_style) do
  PROFILE_INCLUDES = %w[lvs::configuration network::constants].freeze
  LEGACY_FUNCTIONS = %w[hiera hiera_array hiera_hash].freeze

  def check
    class_indexes.each { |c| check_class(c) }
    defined_type_indexes.each { |d| check_define(d) }
  end

  private

  def name_of(index)
    index[:name_token].value.sub(/\A::/, '')
  end

  def module_of(name)
    name.split('::').first
  end

  def function_call?(token, names)
    %i[NAME FUNCTION_NAME].include?(token.type) && names.include?(token.value) &&
      token.next_code_token && token.next_code_token.type == :LPAREN
  end

  def lookups(tokens)
    tokens.select { |t| function_call?(t, ['lookup']) }
  end

  # The classes an index includes, requires or contains, as tokens.
  def included(tokens)
    tokens.each_with_object([]) do |t, found|
      next unless t.type == :NAME && %w[include require contain].include?(t.value)
      nxt = t.next_code_token
      next if nxt.nil? || nxt.type == :FARROW

      nxt = nxt.next_code_token if nxt.type == :LPAREN
      found << nxt if nxt && %i[NAME SSTRING STRING].include?(nxt.type)
    end
  end

  # Classes declared resource-like: class { 'name': }.
  def declared_classes(tokens)
    tokens.each_with_object([]) do |t, found|
      next unless t.type == :CLASS && t.next_code_token&.type == :LBRACE

      title = t.next_code_token.next_code_token
      found << title if title
    end
  end

  # Resources declared: name { ... } (not class definitions).
  def declared_resources(tokens)
    tokens.select do |t|
      t.type == :NAME && t.next_code_token&.type == :LBRACE && t.prev_code_token&.type != :CLASS
    end
  end

  # Parameter name => the code tokens of its default.
  def parameters(index)
    params = {}
    current = nil
    in_default = false
    depth = 0
    (index[:param_tokens] || []).each do |t|
      next if PuppetLint::Lexer::FORMATTING_TOKENS.include?(t.type)

      case t.type
      when :LPAREN, :LBRACK, :LBRACE then depth += 1
      when :RPAREN, :RBRACK, :RBRACE then depth -= 1
      end
      if t.type == :VARIABLE && depth.zero? && !in_default
        current = t
        params[t.value] = { token: t, default: [] }
      elsif t.type == :EQUALS && depth.zero?
        in_default = true
      elsif t.type == :COMMA && depth.zero?
        current = nil
        in_default = false
      elsif in_default && current
        params[current.value][:default] << t
      end
    end
    params
  end

  def problem(token, message)
    notify :error, message: "wmf-style: #{message}", line: token.line, column: token.column
  end

  def first_string_argument(token)
    arg = token.next_code_token&.next_code_token
    arg && %i[SSTRING STRING].include?(arg.type) ? arg.value : nil
  end

  def check_class(index)
    name = name_of(index)
    tokens = index[:tokens]
    case module_of(name)
    when 'profile' then check_profile(index, name, tokens)
    when 'role' then check_role(index, name, tokens)
    else check_component(name, tokens, 'class')
    end
    check_deprecated(name, tokens)
  end

  def check_define(index)
    name = name_of(index)
    tokens = index[:tokens]
    lookups(tokens).each { |t| problem(t, "lookup() in defined type '#{name}': only profile parameters look up Hiera") }
    check_includes(name, tokens, 'defined type')
    check_declarations(name, tokens, 'defined type') unless module_of(name) == 'profile'
    check_deprecated(name, tokens)
  end

  def check_profile(index, name, tokens)
    params = parameters(index)
    in_defaults = []
    params.each do |param, data|
      calls = lookups(data[:default])
      if calls.empty?
        problem(data[:token], "parameter '#{param}' of profile '#{name}' has no lookup() default")
        next
      end
      in_defaults.concat(calls)
      calls.each do |call|
        key = first_string_argument(call)
        next if key.nil? || key.start_with?("#{name}::") || !key.include?('::')

        problem(call, "profile '#{name}' looks up '#{key}', another class's key (use #{name}::#{param})")
      end
    end
    (lookups(tokens) - in_defaults).each do |t|
      problem(t, "lookup() in the body of profile '#{name}': look up Hiera only in parameter defaults")
    end
    included(tokens).each do |t|
      cls = t.value.sub(/\A::/, '')
      next if PROFILE_INCLUDES.include?(cls) || %w[profile passwords].include?(module_of(cls))

      problem(t, "profile '#{name}' includes '#{cls}', which is not a profile (declare it with its parameters instead)")
    end
  end

  def check_role(index, name, tokens)
    parameters(index).each_value do |data|
      problem(data[:token], "role '#{name}' has a parameter; a role only includes profiles")
    end
    lookups(tokens).each { |t| problem(t, "lookup() in role '#{name}'") }
    included(tokens).each do |t|
      cls = t.value.sub(/\A::/, '')
      next if %w[role profile].include?(module_of(cls))

      problem(t, "role '#{name}' includes '#{cls}', which is neither a role nor a profile")
    end
    declared_classes(tokens).each { |t| problem(t, "role '#{name}' declares class '#{t.value}'; include profiles instead") }
    declared_resources(tokens).each { |t| problem(t, "role '#{name}' declares '#{t.value}'; a role only includes profiles") }
  end

  def check_component(name, tokens, kind)
    lookups(tokens).each { |t| problem(t, "lookup() in #{kind} '#{name}': only profile parameters look up Hiera") }
    check_includes(name, tokens, kind)
    check_declarations(name, tokens, kind)
  end

  def check_includes(name, tokens, kind)
    from_same_module(name, included(tokens), kind, 'includes')
  end

  def check_declarations(name, tokens, kind)
    from_same_module(name, declared_classes(tokens), kind, 'declares class')
  end

  def from_same_module(name, class_tokens, kind, verb)
    class_tokens.each do |t|
      cls = t.value.sub(/\A::/, '')
      problem(t, "#{kind} '#{name}' #{verb} '#{cls}' from another module") unless module_of(cls) == module_of(name)
    end
  end

  def check_deprecated(name, tokens)
    tokens.each do |t|
      if function_call?(t, LEGACY_FUNCTIONS)
        problem(t, "#{t.value}() in '#{name}' is deprecated; use lookup() in a profile parameter")
      elsif %i[NAME FUNCTION_NAME].include?(t.type) && t.value.start_with?('validate_') && t.next_code_token&.type == :LPAREN
        problem(t, "#{t.value}() in '#{name}' is a legacy stdlib function; use data types")
      elsif t.type == :NAME && t.value.sub(/\A::/, '') == 'base::service_unit' && t.next_code_token&.type == :LBRACE
        problem(t, "'#{name}' declares the deprecated define base::service_unit")
      end
    end
  end
end
